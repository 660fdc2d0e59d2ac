/**
 * Firewall backends: time to apply one grant and to remove it again (p50, p99), with 0, 1,000 and
 * 10,000 grants already live, for nftables (knockspa's table, one `nft -f -` per change), iptables
 * (KNOCKSPA chain, one `iptables-restore --noflush` per change) and command with knockd's classic
 * templates (`iptables -I INPUT ...` / `iptables -D INPUT ...`, one process each); also how long
 * loading the live grants takes as one batch, and what a packet that matches no grant costs as they
 * grow (UDP echo round trip from the client namespace, 10th percentile of 500: the path's own
 * cost, less of the scheduling noise of a busy machine).
 *
 *   sudo npm run bench:firewall        (BENCH_SAMPLES=N per cell, default 40)
 *
 * Runs as root, in a network namespace it creates (test/lab/netns.ts) and removes; nothing
 * outside it is touched. Figures are printed, nothing is asserted.
 * @module
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { CommandFirewall } from '../src/server/firewall/command.js';
import { runTool } from '../src/server/firewall/exec.js';
import type { Entry, Firewall } from '../src/server/firewall/firewall.js';
import { IptablesFirewall } from '../src/server/firewall/iptables.js';
import { NftablesFirewall } from '../src/server/firewall/nftables.js';
import { parseTemplate, type CommandTemplate } from '../src/server/firewall/template.js';
import { NS_NAME, SERVER_V4, TestNet } from '../test/lab/netns.js';
import { NODE } from '../test/lab/process.js';
import { NETNS_TOOLS, netnsUnavailableReason, unmetNeeds } from '../test/lab/requirements.js';

const SAMPLES = Number(process.env['BENCH_SAMPLES'] ?? 40);
const LEVELS = [0, 1_000, 10_000] as const;
const INSIDE = '--inside-namespace';
const PROTECT = [{ proto: 'tcp', port: 22 }] as const;
const ECHO_PORT = 7;
const ECHOES = 500;

/** Sends ECHOES datagrams one after another, each after the previous came back; prints the 10th percentile round trip in µs. */
const ECHO_CLIENT = `
const dgram = require('node:dgram');
const [host, port, count] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
const rtts = [];
let t0 = 0n;
const send = () => { t0 = process.hrtime.bigint(); s.send(Buffer.from('x'), Number(port), host); };
s.on('message', () => {
  rtts.push(Number(process.hrtime.bigint() - t0) / 1e3);
  if (rtts.length < Number(count)) return send();
  rtts.sort((a, b) => a - b);
  console.log(rtts[Math.floor(rtts.length / 10)].toFixed(0));
  s.close();
});
s.bind(0, () => send());
`;

/** 10th percentile UDP round trip (µs) from the client namespace to the echo socket of this process, through the INPUT hook. */
async function echoRtt(clientNs: string): Promise<number> {
  const { stdout } = await runTool([
    'ip',
    'netns',
    'exec',
    clientNs,
    NODE,
    '-e',
    ECHO_CLIENT,
    SERVER_V4,
    String(ECHO_PORT),
    String(ECHOES),
  ]);
  return Number(stdout.trim());
}

function template(text: string): CommandTemplate {
  const t = parseTemplate(text);
  if (typeof t === 'string') throw new Error(t);
  return t;
}

/** Live grants: 198.18.0.0 upwards; measured ones: 198.19.0.0 upwards (RFC 2544 space, never routed). */
function entry(i: number, octet2: 18 | 19, deadlineMs: number): Entry {
  return { ip: `198.${octet2}.${i >> 8}.${i & 255}`, family: 4, proto: 'tcp', port: 22, user: 'bench', deadlineMs };
}

interface Backend {
  readonly name: string;
  readonly firewall: Firewall;
  /** Puts `entries` in as fast as the backend allows. */
  populate(entries: readonly Entry[]): Promise<void>;
}

function backends(): Backend[] {
  const nft = new NftablesFirewall({ sets: [] });
  const ipt = new IptablesFirewall({ jumpPosition: 1 });
  const command = new CommandFirewall({
    open: template('/usr/sbin/iptables -w -I INPUT -s %IP% -p %PROTO% --dport %PORT% -j ACCEPT'),
    close: template('/usr/sbin/iptables -w -D INPUT -s %IP% -p %PROTO% --dport %PORT% -j ACCEPT'),
  });
  const batch =
    (fw: Firewall) =>
    async (entries: readonly Entry[]): Promise<void> => {
      const failures = await fw.apply(entries.map((after) => ({ before: undefined, after })));
      const [failure] = failures;
      if (failure !== undefined) throw failure.error;
    };
  return [
    { name: 'nftables', firewall: nft, populate: batch(nft) },
    { name: 'iptables', firewall: ipt, populate: batch(ipt) },
    {
      name: 'command (knockd: iptables -I/-D INPUT)',
      firewall: command,
      // The same rules the template makes, loaded in one go (10,000 separate processes would take minutes).
      populate: async (entries) => {
        const lines = entries.map((e) => `-I INPUT -s ${e.ip}/32 -p tcp -m tcp --dport 22 -j ACCEPT`);
        await runTool(['iptables-restore', '-w', '--noflush'], `*filter\n${lines.join('\n')}\nCOMMIT\n`);
      },
    },
  ];
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * (sorted.length - 1)))] ?? NaN;
}

const ms = (n: number): string => `${n.toFixed(1)} ms`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function once(fw: Firewall, change: { before: Entry | undefined; after: Entry | undefined }): Promise<void> {
  const [failure] = await fw.apply([change]);
  if (failure !== undefined) throw failure.error;
}

async function inside(serverNs: string, clientNs: string): Promise<void> {
  // Never anywhere but in the bench's own namespace: this flushes the ruleset.
  const here = (await runTool(['ip', 'netns', 'identify', String(process.pid)])).stdout.trim();
  if (!NS_NAME.test(serverNs) || here !== serverNs)
    throw new Error(`${INSIDE}: refusing to run outside the bench's namespace (in "${here}", expected ${serverNs})`);
  const echo = createSocket('udp4');
  echo.on('message', (msg, from) => echo.send(msg, from.port, from.address));
  await new Promise<void>((r) => echo.bind(ECHO_PORT, SERVER_V4, r));
  const deadlineMs = Date.now() + 3_600_000;
  const rows: string[][] = [];
  for (const backend of backends()) {
    for (const live of LEVELS) {
      await runTool(['nft', 'flush', 'ruleset']);
      await backend.firewall.setup(PROTECT);
      const load = await timed(() => backend.populate(Array.from({ length: live }, (_, i) => entry(i, 18, deadlineMs))));
      const apply: number[] = [];
      const remove: number[] = [];
      for (let i = 0; i < SAMPLES + 3; i++) {
        const e = entry(i, 19, deadlineMs);
        const a = await timed(() => once(backend.firewall, { before: undefined, after: e }));
        const r = await timed(() => once(backend.firewall, { before: e, after: undefined }));
        if (i >= 3) {
          // warm-up
          apply.push(a);
          remove.push(r);
        }
      }
      apply.sort((x, y) => x - y);
      remove.sort((x, y) => x - y);
      const rtt = await echoRtt(clientNs);
      const row = [
        backend.name,
        live.toLocaleString('en'),
        ms(percentile(apply, 0.5)),
        ms(percentile(apply, 0.99)),
        ms(percentile(remove, 0.5)),
        ms(percentile(remove, 0.99)),
        live === 0 ? '' : ms(load),
        `${rtt} µs`,
      ];
      rows.push(row);
      process.stderr.write(`  ${row.join('  ')}\n`);
    }
    backend.firewall.release();
  }
  await runTool(['nft', 'flush', 'ruleset']);
  echo.close();
  const head = ['backend', 'live grants', 'apply p50', 'apply p99', 'remove p50', 'remove p99', 'load all (one batch)', 'packet RTT p10'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  console.log(
    `\nApply / remove one grant, ${SAMPLES} samples per cell (each a separate tool process, started ahead of need as the daemon does):\n`,
  );
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const at = process.argv.indexOf(INSIDE);
  if (at >= 0) return inside(process.argv[at + 1] as string, process.argv[at + 2] as string);
  const why = netnsUnavailableReason() ?? unmetNeeds(NETNS_TOOLS);
  if (why !== null) {
    console.error(`bench:firewall needs root and ip netns (${why}); run: sudo npm run bench:firewall`);
    process.exitCode = 2;
    return;
  }
  const net = await TestNet.create();
  try {
    console.log(`measuring in network namespace ${net.srv} (${SAMPLES} samples per cell; progress on stderr)`);
    const self = fileURLToPath(import.meta.url);
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('ip', ['netns', 'exec', net.srv, NODE, self, INSIDE, net.srv, net.cli], { stdio: 'inherit' });
      child.once('exit', (c) => resolve(c));
    });
    if (code !== 0) process.exitCode = 1;
  } finally {
    await net.destroy();
  }
}

await main();
