/**
 * Per packet: verify (protocol; the per-source authentication budget decides before the first
 * HMAC) -> authorize (user policy) -> grant. Silent on the wire whatever happens; every rejection
 * is logged with its reason (rate-limited); over-budget drops are only counted.
 * One bad packet never stops the loop.
 * @module
 */
import type { Logger } from 'pino';
import { formatPortSpec } from '../../protocol/ports.js';
import { OVER_BUDGET, type AuthBudget } from './auth-budget.js';
import type { UserPolicy } from '../config/config.js';
import type { PacketVerifier } from './formats.js';
import type { Grants } from '../grants/grants.js';
import type { Datagram } from '../listen/listener.js';
import { authorize, type Decision } from './policy.js';
import type { RejectLog } from './reject-log.js';

export interface PipelineOptions {
  readonly log: Logger;
  readonly rejects: RejectLog;
  /** Per-source budget for authentication work (survives reloads). */
  readonly budget: AuthBudget;
  readonly grants: Grants;
  readonly now: () => number;
}

/** What may change on reload. */
export interface PipelinePolicy {
  readonly verifier: PacketVerifier;
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
    const { verifier, users, defaultDurationSec, notBeforeMs } = this.policy;
    const verified = verifier.verify(datagram.payload, this.opts.now(), datagram.source, this.opts.budget);
    if (verified === OVER_BUDGET) {
      this.opts.rejects.tally(OVER_BUDGET);
      return;
    }
    if (typeof verified === 'string') {
      this.opts.rejects.reject(verified, datagram.source);
      return;
    }
    if (verified.timestampMs < notBeforeMs) {
      this.opts.budget.failed(datagram.source);
      this.opts.rejects.reject('stale', datagram.source, { user: verified.user, note: 'made before the daemon lost its replay cache' });
      return;
    }
    const decision = authorize(verified, users.get(verified.user), datagram.source, defaultDurationSec);
    if (typeof decision === 'string') {
      this.opts.rejects.reject(decision, datagram.source, { user: verified.user, ports: verified.ports.map(formatPortSpec) });
      return;
    }
    const accepted = {
      event: 'knock', format: verified.format ?? 'knockspa', action: decision.action, user: decision.user, keyId: verified.keyIdHex, ip: decision.ip,
      ports: decision.ports.map(formatPortSpec),
      duration: decision.durationSec, capped: decision.capped, source: datagram.source,
    };
    // Logged once the state is saved and the batch is with the firewall tool, not before: this
    // synchronous write would hold the rule back ~0.2 ms.
    this.apply(decision, () => this.opts.log.info(accepted, 'knock accepted')).catch((err: unknown) =>
      this.opts.log.error({ ...accepted, event: 'internal-error', error: String(err) }, 'knock not applied'),
    );
  }

  /** The grants persist the state (this knock's replay entry with it) before it takes effect. */
  private async apply(decision: Decision, handedOver: () => void): Promise<void> {
    // All ports at once: the grants apply them in one firewall batch.
    await Promise.all(
      decision.ports.map(({ proto, port }) => {
        const req = { user: decision.user, ip: decision.ip, family: decision.family, proto, port };
        return decision.action === 'open' ? this.opts.grants.open(req, decision.durationSec, handedOver) : this.opts.grants.close(req, 'knock', handedOver);
      }),
    );
  }
}
