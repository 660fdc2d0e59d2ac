/**
 * command backend: knockd-style templates for sites with their own firewall tooling. A new
 * grant runs `open`, a closed one `close`, each with %IP% %PROTO% %PORT% %USER% %DURATION% filled
 * in; an extended grant runs nothing (the close simply comes later). knockspa cannot see what
 * these commands did, so it cannot list or sweep: it trusts their exit codes.
 * @module
 */
import { accessSync, constants } from 'node:fs';
import type { TableReader } from '../config/table-reader.js';
import { defineBackend } from './backend.js';
import { runTool } from './exec.js';
import { asFirewallError, FirewallError, type ApplyFailure, type Change, type Entry, type Firewall } from './firewall.js';
import { expandTemplate, parseTemplate, type CommandTemplate } from './template.js';

export interface CommandTemplates {
  readonly open: CommandTemplate;
  readonly close: CommandTemplate;
}

export class CommandFirewall implements Firewall {
  readonly name = 'command';
  readonly description: string;

  constructor(
    private readonly templates: CommandTemplates,
    private readonly now: () => number = Date.now,
  ) {
    this.description = `open: ${templates.open.words.join(' ')}; close: ${templates.close.words.join(' ')}`;
  }

  /** The programs must be there; what they do is the site's business. */
  async setup(): Promise<void> {
    for (const t of [this.templates.open, this.templates.close]) {
      const program = t.words[0] as string;
      try {
        accessSync(program, constants.X_OK);
      } catch (err) {
        throw new FirewallError([program], `not an executable file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, null);
      }
    }
  }

  async check(): Promise<string> {
    await this.setup();
    return `command: ${this.description}`;
  }

  private argv(template: CommandTemplate, entry: Entry): string[] {
    const left = Math.max(0, Math.ceil((entry.deadlineMs - this.now()) / 1000));
    return expandTemplate(template, {
      IP: entry.ip,
      PROTO: entry.proto,
      PORT: String(entry.port),
      USER: entry.user,
      DURATION: String(left),
    });
  }

  /** One command per change, in order; a change whose command fails is reported, the rest still run. */
  async apply(changes: readonly Change[]): Promise<ApplyFailure[]> {
    const failures: ApplyFailure[] = [];
    for (const change of changes) {
      const { before, after } = change;
      // Same owner, new deadline: nothing to run. A new owner: close for the old, open for the new.
      if (before !== undefined && after !== undefined && before.user === after.user) continue;
      try {
        if (before !== undefined) await runTool(this.argv(this.templates.close, before));
        if (after !== undefined) await runTool(this.argv(this.templates.open, after));
      } catch (err) {
        failures.push({ changes: [change], error: asFirewallError(err) });
      }
    }
    return failures;
  }

  async list(): Promise<null> {
    return null;
  }

  async detach(): Promise<void> {}

  release(): void {}

  async remove(): Promise<string> {
    return 'command: knockspa keeps nothing of its own in the firewall; your close command removes what open added';
  }
}

const TEMPLATE_KEYS = ['open', 'close'] as const;

/** The [firewall_command] table: both templates, each parsed. */
function readTemplates(r: TableReader): CommandTemplates {
  const c = r.child('firewall_command', TEMPLATE_KEYS);
  if (c === undefined)
    return r.refuse('firewall_command', 'a [firewall_command] table with open = "..." and close = "..." when firewall = "command"');
  const template = (key: 'open' | 'close'): CommandTemplate => {
    const text = c.string(key, undefined);
    if (text === undefined)
      return c.fail(key, 'a command template like "/usr/sbin/iptables -I INPUT -s %IP% -p %PROTO% --dport %PORT% -j ACCEPT"');
    const parsed = parseTemplate(text);
    if (typeof parsed === 'string') return c.fail(key, parsed);
    return parsed;
  };
  return { open: template('open'), close: template('close') };
}

/**
 * `firewall = "command"` with its [firewall_command] table. What the commands did cannot be
 * listed, and may well outlive a reboot (a site's own rules): the state file is its only record.
 */
export const commandBackend = defineBackend<CommandTemplates>({
  name: 'command',
  keys: ['firewall_command'],
  read: readTemplates,
  capabilities: { lists: false, outlivesReboot: true, protectsPorts: false, opensPorts: true },
  make: (templates) => new CommandFirewall(templates),
});
