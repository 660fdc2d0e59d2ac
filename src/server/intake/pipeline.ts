/**
 * Per packet, one way: screen (the format's cheap checks) -> budget (per source; fwknop's HMAC
 * trials daemon-wide) -> authenticate (HMAC, decrypt, window, server, replay) -> authorize (user
 * policy) -> submit to the applier. Silent on the wire whatever happens; every rejection is logged
 * with its reason (rate-limited); over-budget drops are only counted. One bad packet never stops
 * the loop.
 * @module
 */
import type { Logger } from 'pino';
import { formatPortSpec } from '../../protocol/ports.js';
import type { UserPolicy } from '../config/config.js';
import type { Applier, BookEvent } from '../grants/applier.js';
import type { Datagram } from '../listen/listener.js';
import { OVER_BUDGET, PUBLIC_KEY_COST, RESERVE_FAILURE_MEMORY_MS, type AuthBudget, type TrialBudget } from './auth-budget.js';
import type { AddressPolicy } from './address-policy.js';
import type { PacketFormats } from './formats.js';
import { authorize } from './policy.js';
import type { RejectLog } from './reject-log.js';
import type { ClusterStep } from '../cluster/cluster.js';

export interface PipelineOptions {
  readonly log: Logger;
  readonly rejects: RejectLog;
  /** Per-source budget for authentication work (survives reloads). */
  readonly budget: AuthBudget;
  /** Daemon-wide budget for fwknop's HMAC trials (survives reloads). */
  readonly trials: TrialBudget;
  readonly applier: Pick<Applier, 'submit'>;
  readonly now: () => number;
  /** Which addresses may be granted (packet source and allow-ip). */
  readonly addresses: Pick<AddressPolicy, 'problem'>;
  /** [cluster]: the group's replay claim before a knock takes effect, and sharing what it did. */
  readonly cluster?: ClusterStep;
}

/** What may change on reload. */
export interface PipelinePolicy {
  readonly formats: PacketFormats;
  readonly users: ReadonlyMap<string, UserPolicy>;
  readonly defaultDurationSec: number;
  /** Packets stamped before this are refused (set when the replay cache was lost). */
  readonly notBeforeMs: number;
}

export class Pipeline {
  constructor(
    private readonly opts: PipelineOptions,
    public policy: PipelinePolicy,
  ) {}

  handle(datagram: Datagram): void {
    const { payload, source } = datagram;
    const { formats, users, defaultDurationSec, notBeforeMs } = this.policy;
    const { budget, rejects } = this.opts;
    const screened = formats.screen(payload);
    if (typeof screened === 'string') return rejects.reject(screened, source);
    // A corrupt frame (pcap) is dropped unlogged and uncounted, as the kernel drops it.
    if (datagram.intact?.() === false) return;
    if (!budget.admit(source, screened.format === 'ssh' ? PUBLIC_KEY_COST : 1)) return rejects.tally(OVER_BUDGET);
    // Refused daemon-wide, not for anything this source did: not counted against it.
    if (screened.format === 'fwknop' && !this.opts.trials.take(screened.trials, !budget.failedWithin(source, RESERVE_FAILURE_MEMORY_MS))) {
      return rejects.reject('fwknop-rate-limited', source);
    }
    const knock = formats.authenticate(payload, screened, this.opts.now());
    if (typeof knock === 'string') {
      budget.failed(source);
      return rejects.reject(knock, source, formats.rejectDetail(screened));
    }
    if (knock.timestampMs < notBeforeMs) {
      budget.failed(source);
      return rejects.reject('stale', source, {
        user: knock.user,
        ...(knock.keyIdHex === undefined ? {} : { keyId: knock.keyIdHex }),
        ...(knock.fingerprint === undefined ? {} : { sshKey: knock.fingerprint }),
        note: 'stamped before the replay cache can vouch for it (state lost, or max_skew raised)',
      });
    }
    const decision = authorize(knock, users.get(knock.user), source, defaultDurationSec, this.opts.addresses);
    if (typeof decision === 'string') return rejects.reject(decision, source, { user: knock.user, ports: knock.ports.map(formatPortSpec) });
    const { action, user, ip, family, ports, durationSec, capped } = decision;
    const events = ports.map(({ proto, port }): BookEvent => {
      const grant = { user, ip, family, proto, port };
      return action === 'open' ? { kind: 'open', grant, durationSec } : { kind: 'close', grant, why: 'knock' };
    });
    const accepted = {
      event: 'knock',
      format: knock.format ?? 'knockspa',
      action,
      user,
      keyId: knock.keyIdHex,
      sshKey: knock.fingerprint,
      ip,
      ports: ports.map(formatPortSpec),
      duration: durationSec,
      capped,
      source,
    };
    const cluster = this.opts.cluster;
    if (cluster === undefined) return this.take(events, accepted);
    // The group's replay cache, after the local one: one round trip, then the knock takes effect.
    const shared = cluster.withDeadlines(events, this.opts.now());
    void cluster.claim(knock.packetId, knock.timestampMs).then((claim) => {
      if (claim === 'ok') return this.take(shared, accepted, true);
      if (claim === 'replay') budget.failed(source);
      rejects.reject(claim === 'stale-outage' ? 'stale' : claim, source, {
        user,
        ...(claim === 'stale-outage' ? { note: 'stamped before the Redis outage began plus the window' } : {}),
      });
    });
  }

  /** `shared`: in a group, the applier hands the knock to the group's stream once accepted here. */
  private take(events: readonly BookEvent[], accepted: Record<string, unknown>, shared = false): void {
    this.opts.applier
      .submit(events, accepted, shared)
      .catch((err: unknown) => this.opts.log.error({ ...accepted, event: 'internal-error', error: String(err) }, 'knock not applied'));
  }
}
