/**
 * Each gateway says it is alive: a key per gateway, rewritten every few seconds with a short
 * expiry, so `knockspa doctor` can list the group's gateways seen recently. Failures are silent
 * here: the replay claims notice and log an outage.
 * @module
 */
import type { RedisLink } from './connection.js';
import type { ClusterSettings } from './settings.js';

export const HEARTBEAT_EVERY_MS = 5_000;
/** A gateway not heard from for this long is gone from the list. */
export const HEARTBEAT_TTL_MS = 30_000;

export function heartbeatKey(prefix: string, gateway: string): string {
  return `${prefix}:gateway:${gateway}`;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly link: RedisLink,
    private readonly settings: ClusterSettings,
    private readonly now: () => number,
  ) {}

  start(): void {
    const beat = (): void => {
      const value = JSON.stringify({
        at: this.now(),
        pid: process.pid,
        grants: this.settings.grants,
        onRedisDown: this.settings.onRedisDown,
      });
      this.link
        .call(['SET', heartbeatKey(this.settings.name, this.settings.gateway), value, 'PX', String(HEARTBEAT_TTL_MS)])
        .catch(() => undefined);
    };
    beat();
    this.timer = setInterval(beat, HEARTBEAT_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
