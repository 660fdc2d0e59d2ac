/**
 * `knockspa doctor` with [cluster]: Redis reachable, the credentials accepted, a primary (a replica
 * refuses the claims), the round trip, and the group's gateways seen recently (their heartbeats).
 * The Redis client is loaded only when the config has [cluster].
 * @module
 */
import { pino } from 'pino';
import type { ServerConfig } from '../server/config/config.js';
import { fail, ok, warn, type Finding } from './finding.js';

const PINGS = 5;

export async function clusterFindings(config: ServerConfig): Promise<Finding[]> {
  const settings = config.cluster;
  if (settings === undefined) return [];
  const { connect, redactedUrl } = await import('../server/cluster/connection.js');
  const { heartbeatKey, HEARTBEAT_TTL_MS } = await import('../server/cluster/heartbeat.js');
  const where = redactedUrl(settings.url);
  let link: Awaited<ReturnType<typeof connect>>;
  try {
    link = await connect(settings, config.file, pino({ enabled: false }));
  } catch (err) {
    return [fail(`cluster: ${(err as Error).message}`, 'put the password Redis expects in password_file (or the ACL user in the URL)')];
  }
  try {
    if (!link.ready)
      return [fail(`cluster: Redis at ${where} not reachable`, 'start Redis, or check the address, port, TLS and the firewall between')];
    const findings: Finding[] = [ok(`cluster: connected to Redis at ${where}, credentials accepted`)];
    const role = /^role:(\w+)/m.exec(await link.call<string>(['INFO', 'replication']))?.[1];
    if (role !== undefined && role !== 'master')
      findings.push(
        fail(`cluster: ${where} is a ${role}: it refuses the writes the group needs`, 'point redis at the primary (or use Sentinel)'),
      );
    const times: number[] = [];
    for (let i = 0; i < PINGS; i++) {
      const t0 = process.hrtime.bigint();
      await link.call(['PING']);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    const median = times.sort((a, b) => a - b)[Math.floor(PINGS / 2)] as number;
    const latency = `cluster: Redis round trip ${median.toFixed(2)} ms (median of ${PINGS}), timeout_ms ${settings.timeoutMs}`;
    findings.push(
      median * 4 > settings.timeoutMs
        ? warn(latency, 'a round trip this close to timeout_ms makes slow moments outages; raise timeout_ms or move Redis closer')
        : ok(latency),
    );
    const prefix = heartbeatKey(settings.name, '');
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await link.call<[string, string[]]>(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '100']);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    const now = Date.now();
    const seen: string[] = [];
    for (const key of keys.sort()) {
      const value = await link.call<string | null>(['GET', key]);
      const at = Number((JSON.parse(value ?? '{}') as { at?: unknown }).at);
      seen.push(`${key.slice(prefix.length)} (${Number.isFinite(at) ? `${Math.max(0, Math.round((now - at) / 1000))} s ago` : '?'})`);
    }
    const window = `in the last ${HEARTBEAT_TTL_MS / 1000} s`;
    findings.push(
      seen.length === 0
        ? warn(
            `cluster: no gateway of group "${settings.name}" seen ${window}`,
            'start the daemons (systemctl start knockspa); each says it is alive every few seconds',
          )
        : ok(`cluster: gateways of group "${settings.name}" seen ${window}: ${seen.join(', ')}`),
    );
    return findings;
  } catch (err) {
    return [fail(`cluster: Redis at ${where}: ${(err as Error).message}`, 'check Redis (redis-cli ping) and timeout_ms')];
  } finally {
    await link.close();
  }
}
