/**
 * The connection to the group's Redis (or Valkey), through node-redis (@redis/client, loaded with
 * import() so that a daemon without [cluster] never loads it). Every call has a bounded time; a
 * call made while the client is reconnecting fails at once (no offline queue), so the packet path
 * never waits on a reconnect loop: node-redis reconnects in the background.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ConfigError } from '../../shared/errors.js';
import type { ClusterSettings } from './settings.js';

/** What the rest of the cluster code needs from a connection. */
export interface RedisLink {
  /** One command, refused (rejected) after `timeoutMs` or at once when not connected. */
  call<T>(args: readonly string[], timeoutMs?: number): Promise<T>;
  readonly ready: boolean;
  /** A second connection of the same settings (blocking reads need their own). */
  duplicate(): Promise<RedisLink>;
  close(): Promise<void>;
}

export class RedisTimeout extends Error {
  constructor(ms: number) {
    super(`no answer from Redis within ${ms} ms`);
    this.name = 'RedisTimeout';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new RedisTimeout(ms)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** An answer that means the credentials are wrong: a config error, not an outage. */
export function isAuthError(err: unknown): boolean {
  return /WRONGPASS|NOAUTH|invalid username-password|NOPERM/i.test(String((err as Error | null)?.message ?? err));
}

/** The part of a node-redis client used here. */
interface Client {
  readonly isReady: boolean;
  sendCommand(args: readonly string[]): Promise<unknown>;
  destroy(): void;
}

interface ClientEvents {
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  connect(): Promise<unknown>;
}

/** The part of node-redis's Sentinel client used here. */
interface Sentinel {
  readonly isReady: boolean;
  sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  connect(): Promise<unknown>;
  destroy(): Promise<void>;
}

/**
 * The primary Sentinel names, through node-redis's Sentinel client, which follows a failover on
 * its own (Sentinel's switch-master). Its connect gives up when no Sentinel or primary answers at
 * start; this one then starts over every 2 s, as a plain client reconnects, until destroyed.
 */
class SentinelClient implements Client, ClientEvents {
  private current: Sentinel | undefined;
  private closed = false;
  private readonly errorListeners: Array<(err: Error) => void> = [];
  private readonly readyListeners: Array<() => void> = [];

  constructor(private readonly make: () => Sentinel) {}

  get isReady(): boolean {
    return this.current?.isReady ?? false;
  }

  sendCommand(args: readonly string[]): Promise<unknown> {
    if (this.current === undefined) return Promise.reject(new Error('not connected to Redis'));
    return this.current.sendCommand(false, [...args]);
  }

  on(event: 'error' | 'ready', listener: ((err: Error) => void) | (() => void)): this {
    if (event === 'error') this.errorListeners.push(listener);
    else this.readyListeners.push(listener as () => void);
    return this;
  }

  /** Resolves when connected, rejects with the first attempt's error (later attempts go on unless it was the credentials). */
  connect(): Promise<unknown> {
    return this.attempt();
  }

  destroy(): void {
    this.closed = true;
    void this.current?.destroy().catch(() => undefined);
  }

  private async attempt(): Promise<void> {
    if (this.closed) return;
    const sentinel = this.make();
    this.current = sentinel;
    sentinel.on('error', (err) => this.errorListeners.forEach((l) => l(err)));
    sentinel.on('ready', () => this.readyListeners.forEach((l) => l()));
    try {
      await sentinel.connect();
    } catch (err) {
      this.errorListeners.forEach((l) => l(err as Error));
      if (!isAuthError(err) && !this.closed) setTimeout(() => void this.attempt().catch(() => undefined), 2000).unref();
      throw err;
    }
  }
}

class NodeRedisLink implements RedisLink {
  constructor(
    private readonly client: Client,
    private readonly timeoutMs: number,
    private readonly open: () => Promise<RedisLink>,
  ) {}

  get ready(): boolean {
    return this.client.isReady;
  }

  call<T>(args: readonly string[], timeoutMs = this.timeoutMs): Promise<T> {
    if (!this.client.isReady) return Promise.reject(new Error('not connected to Redis'));
    return withTimeout(this.client.sendCommand(args) as Promise<T>, timeoutMs);
  }

  duplicate(): Promise<RedisLink> {
    return this.open();
  }

  async close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }
}

/** Back off up to 2 s between attempts, forever; a wrong password stops it. */
const reconnectStrategy = (retries: number, cause: Error): number | false =>
  isAuthError(cause) ? false : Math.min(2000, 50 * 2 ** Math.min(retries, 6));

/**
 * Connects; throws ConfigError when Redis refuses the credentials. An unreachable Redis is not an
 * error here: the link is returned and node-redis keeps trying (the daemon starts in an outage).
 */
export async function connect(settings: ClusterSettings, configFile: string, log: Logger): Promise<RedisLink> {
  const { createClient, createSentinel } = await import('@redis/client');
  // The secret is read at start, never logged; the URL is logged without its credentials.
  const password = settings.passwordFile === undefined ? undefined : readFileSync(settings.passwordFile, 'utf8').trim();
  const socket = { connectTimeout: Math.max(1000, settings.timeoutMs), reconnectStrategy };
  const newClient = (): Client & ClientEvents =>
    settings.sentinels === undefined
      ? createClient({ url: settings.url, ...(password === undefined ? {} : { password }), RESP: 2, disableOfflineQueue: true, socket })
      : new SentinelClient(() =>
          createSentinel({
            name: settings.sentinelName as string,
            sentinelRootNodes: settings.sentinels?.map((n) => ({ host: n.host, port: n.port })) ?? [],
            RESP: 2,
            // The password is the data nodes'; the Sentinels are asked without one.
            nodeClientOptions: { ...(password === undefined ? {} : { password }), disableOfflineQueue: true, socket },
            sentinelClientOptions: { socket: { connectTimeout: socket.connectTimeout } },
            passthroughClientErrorEvents: true,
          }),
        );
  const open = async (first: boolean): Promise<RedisLink> => {
    let authError: unknown;
    const client = newClient();
    let lastLogged = '';
    client.on('error', (err: Error) => {
      if (isAuthError(err)) authError = err;
      // One line per distinct error, not one per reconnect attempt.
      if (err.message === lastLogged) return;
      lastLogged = err.message;
      log.warn({ event: 'cluster-error', redis: redactedUrl(settings.url), error: err.message }, 'Redis connection problem');
    });
    client.on('ready', () => {
      lastLogged = '';
      log.info({ event: 'cluster-connected', redis: redactedUrl(settings.url) }, 'connected to Redis');
    });
    const link = new NodeRedisLink(client, settings.timeoutMs, () => open(false));
    const connecting = client.connect().then(
      () => undefined,
      (err: unknown) => err,
    );
    const failed = await Promise.race([connecting, new Promise((r) => setTimeout(r, Math.max(1000, settings.timeoutMs * 4)))]);
    if (isAuthError(failed) || isAuthError(authError)) {
      client.destroy();
      if (first)
        throw new ConfigError(
          configFile,
          settings.passwordFile === undefined ? 'cluster.redis' : 'cluster.password_file',
          `credentials Redis accepts; Redis said: ${String((failed as Error | undefined)?.message ?? (authError as Error).message)}`,
        );
      throw failed as Error;
    }
    if (!client.isReady && first)
      log.warn({ event: 'cluster-unreachable', redis: redactedUrl(settings.url) }, 'Redis not reachable at start; will keep trying');
    return link;
  };
  return open(true);
}

/** The URL without user and password. */
export function redactedUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}
