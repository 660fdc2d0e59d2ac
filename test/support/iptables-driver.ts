/**
 * Runs the iptables backend (src/server/firewall/iptables.ts) inside a test namespace, with the
 * `iptables` of the system directories (as the daemon runs it): one JSON command a stdin line ({"op":"setup"}, {"op":"open","ip":...},
 * {"op":"close","ip":...}, {"op":"detach"}), one JSON answer a stdout line ({"op","ok","error"?}).
 * For the legacy-variant test (test/e2e/firewall-iptables-legacy.test.ts).
 */
import { createInterface } from 'node:readline';
import { IptablesFirewall } from '../../src/server/firewall/iptables.js';
import type { Entry } from '../../src/server/firewall/firewall.js';

const firewall = new IptablesFirewall({ jumpPosition: 1 });
const entry = (ip: string): Entry => ({ ip, family: 4, proto: 'tcp', port: 22, user: 'alice', deadlineMs: 1_800_000_000_000 });

async function perform(cmd: { op: string; ip?: string }): Promise<void> {
  if (cmd.op === 'setup') return firewall.setup();
  if (cmd.op === 'detach') {
    firewall.release();
    return firewall.detach();
  }
  const change =
    cmd.op === 'open' ? { before: undefined, after: entry(String(cmd.ip)) } : { before: entry(String(cmd.ip)), after: undefined };
  const [failure] = await firewall.apply([change]);
  if (failure !== undefined) throw failure.error;
}

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { op: string; ip?: string };
  try {
    await perform(cmd);
    console.log(JSON.stringify({ op: cmd.op, ok: true }));
  } catch (err) {
    console.log(JSON.stringify({ op: cmd.op, ok: false, error: String(err) }));
  }
}
firewall.release();
