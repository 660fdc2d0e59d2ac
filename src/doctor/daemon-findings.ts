/**
 * The running daemon as it sees itself, asked over its control socket: is it receiving, and
 * when did its listener last see a packet. A daemon that cannot receive must not look healthy.
 * @module
 */
import type { ServerConfig } from '../server/config/config.js';
import { ask, controlSocketPath, NoDaemon } from '../server/control/control-client.js';
import { fail, ok, warn, type Finding } from './finding.js';

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

export async function daemonFindings(config: ServerConfig, now: () => number = Date.now): Promise<Finding[]> {
  const socket = controlSocketPath(config.stateDir);
  let answer;
  try {
    answer = await ask(socket, { op: 'status' }, 3_000);
  } catch (err) {
    if (err instanceof NoDaemon) return [warn(`no knockspa daemon answers on ${socket}`, 'start it: systemctl start knockspa')];
    return [fail(`cannot ask the daemon: ${(err as Error).message}`, "run as root (the control socket is the daemon user's only)")];
  }
  if (!answer.ok || !('status' in answer))
    return [fail(`the daemon did not report its status: ${answer.ok ? '?' : answer.error}`, 'restart it')];
  const { status } = answer;
  const t = now();
  const last =
    status.lastPacketMs === null
      ? `has seen no packet since it started ${ago(t - status.startedMs)}`
      : `last saw a packet ${ago(t - status.lastPacketMs)} (${new Date(status.lastPacketMs).toISOString()})`;
  const findings: Finding[] = [];
  if (status.listenerError !== null)
    findings.push(
      fail(
        `the daemon (pid ${status.pid}) cannot receive knocks: ${status.listener} lost (${status.listenerError.reason}) ${ago(t - status.listenerError.sinceMs)}; it ${last}`,
        'check the interface (ip link); the daemon reopens the capture when it is back, or exits so systemd restarts it',
      ),
    );
  else
    findings.push(
      ok(`the daemon (pid ${status.pid}, ${status.listener}, ${status.grants} live grant${status.grants === 1 ? '' : 's'}) ${last}`),
    );
  return findings;
}
