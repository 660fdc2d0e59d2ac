/**
 * TCP probes for `--wait` and `connect`: try to connect until the port answers or time runs out.
 * @module
 */
import { connect, type Socket } from 'node:net';

/** One connect attempt: the connected socket, or null if it did not connect within `timeoutMs`. */
function connectOnce(host: string, port: number, timeoutMs: number): Promise<Socket | null> {
  return new Promise((resolvePromise) => {
    // allowHalfOpen: `connect` relays the two directions separately (stdin's end is not the server's).
    const socket = connect({ host, port, allowHalfOpen: true });
    const fail = (): void => {
      socket.destroy();
      resolvePromise(null);
    };
    socket.setTimeout(timeoutMs, fail);
    socket.once('error', fail);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.removeListener('error', fail);
      resolvePromise(socket);
    });
  });
}

/** Tries to connect until it does (the socket and the milliseconds it took), or null after `totalMs`. */
export async function connectWithin(host: string, port: number, totalMs: number): Promise<{ socket: Socket; ms: number } | null> {
  const start = performance.now();
  for (let attempt = 0; ; attempt++) {
    const left = totalMs - (performance.now() - start);
    if (left <= 0) return null;
    // Up to 3 s per attempt: a SYN dropped before the rule went in is resent by the kernel after 1 s.
    const socket = await connectOnce(host, port, Math.min(3000, left));
    if (socket !== null) return { socket, ms: Math.round(performance.now() - start) };
    // Dropped SYNs time out by themselves; refused ones return at once, so pause before retrying.
    await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 250)));
  }
}

/** Probes until the port connects; the milliseconds it took, or null after `totalMs`. */
export async function waitForPort(host: string, port: number, totalMs: number): Promise<number | null> {
  const connected = await connectWithin(host, port, totalMs);
  connected?.socket.destroy();
  return connected === null ? null : connected.ms;
}
