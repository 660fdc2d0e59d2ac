/**
 * At start and at every sweep: is a port the daemon may grant dropped, even for a granted
 * address, by a rule knockspa does not own (a drop in any table on the input hook wins)? Then
 * every knock logs `open` and the port never opens. Logged as an error naming the rule when a
 * conflict appears, and once more when it is gone; the same conflict is not repeated every sweep.
 * The judging is doctor's (src/doctor/conflicts.ts), on the ruleset read the same way.
 * @module
 */
import type { Logger } from 'pino';
import type { PortSpec } from '../../protocol/ports.js';
import { conflictFix, grantConflicts, type Conflict } from '../../doctor/conflicts.js';
import { readRuleset } from '../../doctor/read-ruleset.js';
import type { Firewall } from './firewall.js';
import type { FirewallSettings } from './settings.js';

const key = (c: Conflict): string => `${c.family} ${c.port} ${c.by}`;

export class ConflictWatch {
  private known = new Map<string, Conflict>();
  private running = false;

  constructor(
    private readonly settings: FirewallSettings,
    private readonly firewall: Pick<Firewall, 'model'>,
    private readonly log: Logger,
  ) {}

  /** Only backends whose rules sit in iptables/nftables (those with a model) are judged. */
  get applies(): boolean {
    return this.settings.backend.capabilities.opensPorts && this.firewall.model !== undefined;
  }

  /** Reads the ruleset and logs what changed; never throws (a failed read is logged once per sweep at debug). */
  async check(ports: readonly PortSpec[]): Promise<readonly Conflict[]> {
    if (!this.applies || this.running) return [...this.known.values()];
    this.running = true;
    try {
      const found = new Map<string, Conflict>();
      for (const family of [4, 6] as const) {
        const { sources } = await readRuleset(family, this.firewall.model, ports);
        for (const c of grantConflicts(sources, ports, family)) if (c.kind === 'drop') found.set(key(c), c);
      }
      const ownDrops = this.settings.backend.capabilities.protectsPorts;
      for (const [k, c] of found)
        if (!this.known.has(k))
          this.log.error(
            { event: 'firewall-conflict', port: c.port, family: c.family, rule: c.by, fix: conflictFix(c, ownDrops) },
            `${c.port} is dropped for IPv${c.family} by ${c.by}, a rule knockspa does not own: knocks cannot open it`,
          );
      for (const [k, c] of this.known)
        if (!found.has(k))
          this.log.info(
            { event: 'firewall-conflict-gone', port: c.port, family: c.family, rule: c.by },
            `${c.by} no longer drops ${c.port}`,
          );
      this.known = found;
    } catch (err) {
      this.log.debug({ event: 'firewall-conflict-check', error: String(err) }, 'could not read the ruleset');
    } finally {
      this.running = false;
    }
    return [...this.known.values()];
  }
}
