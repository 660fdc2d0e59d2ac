/**
 * TCP probes for `--wait` and `connect`: try to connect until the port answers, the network gives
 * a definite answer (a reset, an unreachable), or time runs out.
 *
 * A SYN sent a moment before the firewall rule goes in is dropped, and the kernel resends it only
 * after ~1 s. So a new connect starts on a short schedule (at once, then every 100 ms for 2 s, then
 * every 500 ms) beside the ones still waiting, and the first to connect wins.
 * @module
 */
import { connect, type Socket } from 'node:net';

/** How long one attempt waits for its SYN-ACK (the kernel's own retransmits included). */
const ATTEMPT_MS = 3000;
/** A refusal counts once it has lasted this long: a REJECT rule may answer the first SYN before the grant is in. */
const CONFIRM_MS = 300;

/** Milliseconds from one attempt's start to the next, given the time since the probe began. */
export function nextAttemptDelay(elapsedMs: number): number {
  return elapsedMs < 2000 ? 100 : 500;
}

/** Errors that are an answer from the network (or this host), not just silence. */
const DEFINITE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EPERM', 'EACCES', 'EADDRNOTAVAIL']);

export type ProbeResult =
  | { readonly kind: 'open'; readonly socket: Socket; readonly ms: number }
  /** Every attempt for CONFIRM_MS ended in this error (ECONNREFUSED: a TCP reset). */
  | { readonly kind: 'answered'; readonly code: string; readonly ms: number }
  /** The caller's stop signal fired first (the knock itself was refused); its reason. */
  | { readonly kind: 'stopped'; readonly reason: string; readonly ms: number }
  | { readonly kind: 'timeout'; readonly ms: number };

/** Probes tcp/`port` at `host` until one of the outcomes in {@link ProbeResult}, at most `totalMs`. */
export function probePort(host: string, port: number, totalMs: number, stop?: Promise<string>): Promise<ProbeResult> {
  return new Promise((resolvePromise) => {
    const start = performance.now();
    const elapsed = (): number => Math.round(performance.now() - start);
    const pending = new Set<Socket>();
    let done = false;
    let next: NodeJS.Timeout | undefined;
    let firstError: { code: string; at: number } | null = null;
    const finish = (result: ProbeResult): void => {
      if (done) return;
      done = true;
      clearTimeout(next);
      clearTimeout(deadline);
      for (const socket of pending) socket.destroy();
      pending.clear();
      resolvePromise(result);
    };
    const deadline = setTimeout(() => finish({ kind: 'timeout', ms: elapsed() }), totalMs);
    void stop?.then((reason) => finish({ kind: 'stopped', reason, ms: elapsed() }));
    const attempt = (): void => {
      if (done) return;
      // allowHalfOpen: `connect` relays the two directions separately (stdin's end is not the server's).
      const socket = connect({ host, port, allowHalfOpen: true });
      pending.add(socket);
      const onError = (err: NodeJS.ErrnoException): void => {
        pending.delete(socket);
        socket.destroy();
        const code = err.code ?? 'EUNKNOWN';
        if (done || !DEFINITE.has(code)) return;
        const now = performance.now();
        if (firstError === null || firstError.code !== code) firstError = { code, at: now };
        else if (now - firstError.at >= CONFIRM_MS) finish({ kind: 'answered', code, ms: elapsed() });
      };
      socket.setTimeout(ATTEMPT_MS, () => {
        pending.delete(socket);
        socket.destroy();
      });
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.setTimeout(0);
        socket.removeListener('error', onError);
        pending.delete(socket);
        if (done) socket.destroy();
        else finish({ kind: 'open', socket, ms: elapsed() });
      });
      next = setTimeout(attempt, nextAttemptDelay(performance.now() - start));
    };
    attempt();
  });
}

/** Tries to connect until it does (the socket and the milliseconds it took), or null after `totalMs`. */
export async function connectWithin(host: string, port: number, totalMs: number): Promise<{ socket: Socket; ms: number } | null> {
  const r = await probePort(host, port, totalMs);
  return r.kind === 'open' ? { socket: r.socket, ms: r.ms } : null;
}

/** Probes until the port connects; the milliseconds it took, or null after `totalMs`. */
export async function waitForPort(host: string, port: number, totalMs: number): Promise<number | null> {
  const connected = await connectWithin(host, port, totalMs);
  connected?.socket.destroy();
  return connected === null ? null : connected.ms;
}
