/**
 * The daemon's control channel: a unix socket in the state directory, mode 0600, so only the
 * daemon's user (and root) can connect: Node has no public API for the peer's credentials
 * (SO_PEERCRED), so the kernel's permission check on the socket file is the gate. Line-delimited
 * JSON (protocol.ts); bounded lines, few connections, an idle timeout. It only reads the daemon's
 * view and queues closes with the applier, so it never holds up the packet path.
 * @module
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  encode,
  MAX_REQUEST_BYTES,
  parseRequest,
  REQUEST_TIMEOUT_MS,
  type ControlResponse,
  type DaemonStatus,
  type GrantFilter,
  type GrantRow,
} from './protocol.js';

/** More connections at once are refused (a runaway script must not pile up sockets). */
const MAX_CONNECTIONS = 8;

export interface ControlHandler {
  status(): DaemonStatus;
  grants(): readonly GrantRow[];
  /** Closes the grants the filter names (logged why "admin"); resolves with those closed. */
  close(filter: GrantFilter): Promise<readonly GrantRow[]>;
}

/** Whether a daemon answers on `path` (a socket left by a crash does not). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly path: string,
    private readonly handler: ControlHandler,
    private readonly log: Logger,
  ) {}

  /** Listens; a socket file left by a dead daemon is replaced, a live one's is not (throws). */
  async start(): Promise<void> {
    let stale = false;
    try {
      stale = lstatSync(this.path).isSocket();
    } catch {
      // absent: fine
    }
    if (stale) {
      if (await answers(this.path)) throw new Error(`${this.path}: another daemon answers on it`);
      unlinkSync(this.path);
    }
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // The socket file is made by bind(), synchronously inside listen(): made 0600 from the start.
      const umask = process.umask(0o177);
      try {
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(umask);
      }
    });
    chmodSync(this.path, 0o600); // whatever the umask did
    server.on('error', (err) => this.log.error({ event: 'control-error', error: err.message }, 'control socket error'));
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    let refused = false;
    let busy = Promise.resolve();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      if (refused) return;
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        // One at a time per connection: answers come back in order.
        busy = busy.then(() => this.answer(line)).then((response) => void (socket.writable && socket.write(encode(response))));
      }
      if (Buffer.byteLength(buffered) > MAX_REQUEST_BYTES) {
        refused = true;
        buffered = '';
        socket.end(encode({ ok: false, error: `request longer than ${MAX_REQUEST_BYTES} bytes` }), () => socket.destroy());
      }
    });
  }

  private async answer(line: string): Promise<ControlResponse> {
    const req = parseRequest(line);
    if (typeof req === 'string') return { ok: false, error: req };
    try {
      if (req.op === 'status') return { ok: true, status: this.handler.status() };
      if (req.op === 'grants') return { ok: true, grants: this.handler.grants() };
      const { op: _op, ...filter } = req;
      return { ok: true, closed: await this.handler.close(filter) };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }
}
