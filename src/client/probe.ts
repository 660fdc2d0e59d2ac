/**
 * TCP probes for `--wait`: try to connect until the port answers or time runs out.
 * @module
 */
import { connect } from 'node:net';

/** One connect attempt; true if it connected within `timeoutMs`. */
export function tcpConnects(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Probes until the port connects; the milliseconds it took, or null after `totalMs`. */
export async function waitForPort(host: string, port: number, totalMs: number): Promise<number | null> {
  const start = performance.now();
  for (let attempt = 0; ; attempt++) {
    const left = totalMs - (performance.now() - start);
    if (left <= 0) return null;
    if (await tcpConnects(host, port, Math.min(1000, left))) return Math.round(performance.now() - start);
    // Dropped SYNs time out by themselves; refused ones return at once, so pause before retrying.
    await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 250)));
  }
}
