/**
 * dry-run backend: logs each change it would make and remembers what would be open.
 * For trying a config and for the demo without root.
 * @module
 */
import type { Logger } from 'pino';
import { defineBackend } from './backend.js';
import type { ApplyFailure, Change, Entry, Firewall } from './firewall.js';
import { ruleKey } from './firewall.js';

export class DryRunFirewall implements Firewall {
  readonly name = 'dry-run';
  readonly description = 'nothing (logs what it would do)';
  private readonly open_ = new Map<string, Entry>();

  constructor(private readonly log: Logger) {}

  async setup(): Promise<void> {}

  async check(): Promise<string> {
    return 'dry-run: no firewall is touched';
  }

  async apply(changes: readonly Change[]): Promise<ApplyFailure[]> {
    for (const { before, after } of changes) {
      const entry = after ?? before;
      if (entry === undefined) continue;
      const op = after === undefined ? 'remove' : before === undefined ? 'add' : 'update';
      const { user, ip, proto, port } = entry;
      this.log.info(
        {
          event: 'dry-run',
          op,
          user,
          ip,
          proto,
          port,
          deadline: after === undefined ? undefined : new Date(after.deadlineMs).toISOString(),
        },
        'would change',
      );
      if (after === undefined) this.open_.delete(ruleKey(entry));
      else this.open_.set(ruleKey(entry), after);
    }
    return [];
  }

  async list(): Promise<Entry[]> {
    return [...this.open_.values()];
  }

  async detach(): Promise<void> {}

  release(): void {}

  async remove(): Promise<string> {
    return 'dry-run: nothing to remove';
  }
}

/**
 * `firewall = "dry-run"`: no keys of its own. What it remembers dies with the daemon: nothing for
 * another process to list.
 */
export const dryRunBackend = defineBackend<null>({
  name: 'dry-run',
  keys: [],
  read: () => null,
  capabilities: { lists: false, outlivesReboot: false, protectsPorts: false, opensPorts: false },
  make: (_settings, { log }) => new DryRunFirewall(log),
});
