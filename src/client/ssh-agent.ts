/**
 * A minimal ssh-agent client (draft-miller-ssh-agent): list identities, sign. Over the socket at
 * $SSH_AUTH_SOCK; the private keys never leave the agent (nor the security key behind it).
 * @module
 */
import { createConnection, type Socket } from 'node:net';
import { SshReader, SshWriter } from '../protocol/ssh/wire.js';

const AGENT_FAILURE = 5;
const REQUEST_IDENTITIES = 11;
const IDENTITIES_ANSWER = 12;
const SIGN_REQUEST = 13;
const SIGN_RESPONSE = 14;
/** Sign flags: ask for rsa-sha2-256 / rsa-sha2-512 rather than SHA-1 ssh-rsa. */
export const AGENT_RSA_SHA2_256 = 2;
export const AGENT_RSA_SHA2_512 = 4;
/** An agent message is small; a bigger length is a broken or hostile socket. */
const MAX_MESSAGE = 256 * 1024;
/** A security key waits for a touch: long enough for a person. */
const SIGN_TIMEOUT_MS = 60_000;

export interface AgentIdentity {
  readonly blob: Uint8Array;
  readonly comment: string;
}

export class AgentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentError';
  }
}

export class SshAgent {
  private constructor(
    private readonly socket: Socket,
    private readonly path: string,
  ) {}

  static async connect(path: string | undefined = process.env.SSH_AUTH_SOCK): Promise<SshAgent> {
    if (path === undefined || path === '')
      throw new AgentError('no ssh-agent: SSH_AUTH_SOCK is not set (start one: eval $(ssh-agent); ssh-add), or pass a private key file');
    const socket = createConnection({ path });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err: NodeJS.ErrnoException) =>
        reject(new AgentError(`cannot reach ssh-agent at ${path} (${err.code ?? err.message}); is it running? (SSH_AUTH_SOCK)`)),
      );
    });
    return new SshAgent(socket, path);
  }

  close(): void {
    this.socket.destroy();
  }

  /** One request, its answer (type byte and payload). */
  private request(type: number, payload: Uint8Array, timeoutMs = 10_000): Promise<{ type: number; body: Uint8Array }> {
    const frame = new SshWriter()
      .u32(payload.length + 1)
      .u8(type)
      .raw(payload)
      .bytes();
    return new Promise((resolve, reject) => {
      let buf = Buffer.alloc(0);
      const done = (err: Error | null, value?: { type: number; body: Uint8Array }): void => {
        clearTimeout(timer);
        this.socket.off('data', onData);
        this.socket.off('error', onError);
        this.socket.off('close', onClose);
        if (err !== null) reject(err);
        else resolve(value as { type: number; body: Uint8Array });
      };
      const onData = (chunk: Buffer): void => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 4) return;
        const length = buf.readUInt32BE(0);
        if (length === 0 || length > MAX_MESSAGE) return done(new AgentError(`ssh-agent at ${this.path} sent a malformed answer`));
        if (buf.length < 4 + length) return;
        done(null, { type: buf[4] as number, body: new Uint8Array(buf.subarray(5, 4 + length)) });
      };
      const onError = (err: Error): void => done(new AgentError(`ssh-agent at ${this.path}: ${err.message}`));
      const onClose = (): void => done(new AgentError(`ssh-agent at ${this.path} closed the connection`));
      const timer = setTimeout(
        () => done(new AgentError(`ssh-agent at ${this.path} did not answer within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      this.socket.on('data', onData);
      this.socket.on('error', onError);
      this.socket.on('close', onClose);
      this.socket.write(frame);
    });
  }

  async identities(): Promise<AgentIdentity[]> {
    const answer = await this.request(REQUEST_IDENTITIES, new Uint8Array(0));
    if (answer.type !== IDENTITIES_ANSWER) throw new AgentError(`ssh-agent at ${this.path} refused to list its keys`);
    const r = new SshReader(answer.body);
    const count = r.u32();
    if (count === undefined || count > 1024) throw new AgentError(`ssh-agent at ${this.path} sent a malformed key list`);
    const found: AgentIdentity[] = [];
    for (let i = 0; i < count; i++) {
      const blob = r.string();
      const comment = r.string();
      if (blob === undefined || comment === undefined) throw new AgentError(`ssh-agent at ${this.path} sent a malformed key list`);
      found.push({ blob: blob.slice(), comment: Buffer.from(comment).toString('utf8') });
    }
    return found;
  }

  /** The agent's signature blob (`string alg, string sig[, flags, counter]`) over `data` with the key `blob`. */
  async sign(blob: Uint8Array, data: Uint8Array, flags: number): Promise<Uint8Array> {
    const payload = new SshWriter().string(blob).string(data).u32(flags).bytes();
    const answer = await this.request(SIGN_REQUEST, payload, SIGN_TIMEOUT_MS);
    if (answer.type === AGENT_FAILURE)
      throw new AgentError(
        'ssh-agent refused to sign (a confirm-before-use key declined, a security key not touched in time, or the key was removed)',
      );
    if (answer.type !== SIGN_RESPONSE) throw new AgentError(`ssh-agent at ${this.path} sent an unexpected answer (${answer.type})`);
    const sig = new SshReader(answer.body).string();
    if (sig === undefined) throw new AgentError(`ssh-agent at ${this.path} sent a malformed signature`);
    return sig.slice();
  }
}
