/**
 * Asks the running daemon over its control socket (control-server.ts): one request, one answer.
 * Used by `knockspa grants`, `knockspa grants close` and `knockspa doctor` (server side).
 * @module
 */
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { CONTROL_SOCKET_NAME, encode, parseResponse, type ControlRequest, type ControlResponse } from './protocol.js';

const ANSWER_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export function controlSocketPath(stateDir: string): string {
  return join(stateDir, CONTROL_SOCKET_NAME);
}

/** No daemon answers on the socket (none running, or an older one without a control channel). */
export class NoDaemon extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(`no daemon answers on ${path} (${code})`);
    this.name = 'NoDaemon';
  }
}

/** Sends one request; resolves with the answer. Rejects with NoDaemon when nobody listens. */
export function ask(path: string, request: ControlRequest, timeoutMs = ANSWER_TIMEOUT_MS): Promise<ControlResponse> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    let connected = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the daemon did not answer on ${path} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const finish = (err: Error | undefined, answer?: ControlResponse): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err === undefined) resolve(answer as ControlResponse);
      else reject(err);
    };
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      socket.write(encode(request));
    });
    socket.on('data', (chunk: string) => {
      text += chunk;
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        try {
          finish(undefined, parseResponse(text.slice(0, nl)));
        } catch (err) {
          finish(err as Error);
        }
      } else if (text.length > MAX_ANSWER_BYTES) finish(new Error('the daemon answer is too long'));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'error';
      // EACCES: the socket is there but not ours: say so, it is not "no daemon".
      if (!connected && (code === 'ENOENT' || code === 'ECONNREFUSED')) finish(new NoDaemon(path, code));
      else finish(new Error(`${path}: ${err.message}${code === 'EACCES' ? ' (run as root)' : ''}`));
    });
    socket.on('end', () => finish(new Error(`the daemon closed ${path} without an answer`)));
  });
}
