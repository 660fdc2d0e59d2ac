/**
 * `knockspa import-knockd FILE`: translates a knockd config into a knockspa server config (TOML on
 * stdout), door by door:
 * - a door whose command is the documents' rule, `iptables -A|-I INPUT -s %IP% -p P --dport N -j ACCEPT`,
 *   gives user port P/N; its undoing (stop_command, or another door running the matching -D) becomes
 *   the grant's close, and cmd_timeout its duration;
 * - any other command that names %IP% and a port becomes a `firewall = "command"` template
 *   (%IP%, %PROTO%, %PORT%), if it needs no shell and something undoes it;
 * - everything else is listed as not translated, with the reason.
 * knockd has no users (whoever knows a sequence gets in), so every port goes to one user (--user).
 * @module
 */
import { basename } from 'node:path';
import { stringify } from 'smol-toml';
import { USER_NAME, SERVER_ID } from '../protocol/keys.js';
import { formatPortSpec, type PortSpec, type Proto } from '../protocol/ports.js';
import { UsageError } from '../shared/errors.js';
import { DEFAULT_SPA_PORT } from './config/config.js';
import { DOOR_DIRECTIVES, loadKnockdConfig, OPTION_DIRECTIVES, type KnockdConfig, type KnockdSection } from './config/knockd-config.js';
import { parseTemplate } from './firewall/template.js';

/** knockd's cmd_timeout when a door has a stop_command and no cmd_timeout (knockd.c). */
const KNOCKD_CMD_TIMEOUT = 10;
/** A door knockd opened until a close sequence came: here it closes on `knockspa close` or after this. */
const UNTIMED_MAX_DURATION = 3600;
/** Characters that mean a command needs a shell; the command backend runs argv without one. */
const SHELL_SYNTAX = /[;&|`$<>(){}\\'"*?]/;

export interface ImportOptions {
  readonly user?: string;
  readonly serverId?: string;
}

/** An iptables command as knockd runs it: add or delete one rule. */
interface IptablesCommand {
  readonly op: 'add' | 'delete';
  /** The rule without the verb, position or -w: what an add and its delete share. */
  readonly rule: string;
  /** Set when it is exactly the documents' ACCEPT for %IP% to one port in INPUT. */
  readonly port: PortSpec | undefined;
}

function parseIptables(command: string): IptablesCommand | undefined {
  const words = command.trim().split(/\s+/);
  const tool = /^(ip6?tables)(?:-legacy|-nft)?$/.exec(basename(words[0] ?? ''))?.[1];
  if (tool === undefined) return undefined;
  let op: 'add' | 'delete' | undefined;
  let chain = '';
  const rest: string[] = [];
  for (let i = 1; i < words.length; i++) {
    const w = words[i] as string;
    if (w === '-w' || w === '--wait') {
      if (/^[0-9]+$/.test(words[i + 1] ?? '')) i++;
    } else if (['-A', '--append', '-I', '--insert', '-D', '--delete'].includes(w) && op === undefined) {
      op = w === '-D' || w === '--delete' ? 'delete' : 'add';
      chain = words[++i] ?? '';
      // -I CHAIN N inserts at N; -D CHAIN N deletes rule number N, which pairs with nothing.
      if (/^[0-9]+$/.test(words[i + 1] ?? '')) {
        if (op === 'delete') return undefined;
        i++;
      }
    } else rest.push(w);
  }
  if (op === undefined) return undefined;
  return { op, rule: `${tool} ${chain} ${rest.join(' ')}`, port: chain === 'INPUT' ? plainAcceptPort(rest) : undefined };
}

/** The port of `-s %IP% -p P --dport N -j ACCEPT` (in any order, with -m tcp/udp, --syn, -m state/conntrack NEW); else undefined. */
function plainAcceptPort(words: readonly string[]): PortSpec | undefined {
  let source: string | undefined;
  let proto: string | undefined;
  let port: string | undefined;
  let target: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    const next = words[i + 1] ?? '';
    if (w === '-s' || w === '--source') source = next;
    else if (w === '-p' || w === '--protocol') proto = next;
    else if (w === '--dport' || w === '--destination-port') port = next;
    else if (w === '-j' || w === '--jump') target = next;
    else if (w === '-m' && ['tcp', 'udp', 'state', 'conntrack'].includes(next)) {
      // the modules themselves are harmless; their options are checked on their own
    } else if ((w === '--state' || w === '--ctstate') && next === 'NEW') {
      // a new connection is what a grant lets in
    } else if (w === '--syn') continue;
    else return undefined;
    i++;
  }
  if (!['%IP%', '%IP%/32', '%IP%/128'].includes(source ?? '') || target !== 'ACCEPT' || (proto !== 'tcp' && proto !== 'udp'))
    return undefined;
  if (port === undefined || !/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) return undefined;
  return { proto, port: Number(port) };
}

/** Option names after which a number is a port (iptables, knockd's knock_add, ufw). */
const PORT_OPTIONS = new Set(['--dport', '--destination-port', '--port', '-d', 'port']);
const PROTO_OPTIONS = new Set(['-p', '--protocol', 'proto']);

/** A command as a template: the first port number after a port option becomes %PORT%, the protocol %PROTO%. */
function templateOf(command: string): { template: string; port: PortSpec } | undefined {
  const words = command.trim().split(/\s+/);
  let port: number | undefined;
  let proto: Proto = 'tcp';
  for (let i = 0; i + 1 < words.length; i++) {
    const w = words[i] as string;
    const next = words[i + 1] as string;
    if (port === undefined && PORT_OPTIONS.has(w) && /^[0-9]{1,5}$/.test(next) && Number(next) >= 1 && Number(next) <= 65535) {
      port = Number(next);
      words[i + 1] = '%PORT%';
    } else if (PROTO_OPTIONS.has(w) && (next === 'tcp' || next === 'udp')) {
      proto = next;
      words[i + 1] = '%PROTO%';
    }
  }
  return port === undefined ? undefined : { template: words.join(' '), port: { proto, port } };
}

type DoorResult =
  | {
      readonly kind: 'ports';
      readonly door: string;
      readonly port: PortSpec;
      readonly closedBy: string;
      readonly timeoutSec: number | undefined;
    }
  | {
      readonly kind: 'command';
      readonly door: string;
      readonly port: PortSpec;
      readonly open: string;
      readonly close: string;
      readonly closedBy: string;
      readonly timeoutSec: number | undefined;
    }
  | { readonly kind: 'closer'; readonly door: string; readonly opener: string }
  | { readonly kind: 'untranslated'; readonly door: string; readonly why: string };

function get(door: KnockdSection, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = door.directives.get(n);
    if (v !== undefined) return v.value;
  }
  return undefined;
}

function timeoutOf(door: KnockdSection, stop: string | undefined): number | undefined | string {
  if (stop === undefined) return undefined;
  const raw = get(door, 'cmd_timeout');
  if (raw === undefined) return KNOCKD_CMD_TIMEOUT;
  return /^[0-9]+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 86_400
    ? Number(raw)
    : `cmd_timeout ${JSON.stringify(raw)} is not a number of seconds (1..86400)`;
}

function translateDoors(config: KnockdConfig): DoorResult[] {
  const starts = new Map(config.doors.map((d) => [d.name, get(d, 'start_command', 'command')]));
  const parsed = new Map([...starts].map(([name, cmd]) => [name, cmd === undefined ? undefined : parseIptables(cmd)]));
  // A door whose whole job is to delete what another door adds is that door's close knock.
  const closerOf = (rule: string, self: string): string | undefined =>
    [...parsed].find(
      ([name, p]) =>
        name !== self &&
        p?.op === 'delete' &&
        p.rule === rule &&
        get(config.doors.find((d) => d.name === name) as KnockdSection, 'stop_command') === undefined,
    )?.[0];
  const openers = new Map<string, string>();
  const results: DoorResult[] = [];
  for (const door of config.doors) {
    const name = door.name;
    const start = starts.get(name);
    const stop = get(door, 'stop_command');
    const ipt = parsed.get(name);
    if (start === undefined || start === '') {
      results.push({ kind: 'untranslated', door: name, why: 'it has no command (start_command / command)' });
      continue;
    }
    if (!start.includes('%IP%')) {
      results.push({
        kind: 'untranslated',
        door: name,
        why: "its command does not use the knocker's address (%IP%), and a knockspa grant is always for one address",
      });
      continue;
    }
    if (ipt?.op === 'delete' && stop === undefined) continue; // a close door: matched to its opener below
    const timeout = timeoutOf(door, stop);
    if (typeof timeout === 'string') {
      results.push({ kind: 'untranslated', door: name, why: timeout });
      continue;
    }
    const stopIpt = stop === undefined ? undefined : parseIptables(stop);
    const closer = ipt?.op === 'add' ? closerOf(ipt.rule, name) : undefined;
    const undoneByStop = ipt?.op === 'add' && stopIpt?.op === 'delete' && stopIpt.rule === ipt.rule;
    if (ipt?.op === 'add' && ipt.port !== undefined && (stop === undefined || undoneByStop)) {
      const closedBy = undoneByStop
        ? `its stop_command after ${timeout} s`
        : closer !== undefined
          ? `door [${closer}]`
          : 'nothing (knockd left it open)';
      results.push({ kind: 'ports', door: name, port: ipt.port, closedBy, timeoutSec: timeout });
      if (closer !== undefined) openers.set(closer, name);
      continue;
    }
    const closeCommand = stop ?? (closer === undefined ? undefined : starts.get(closer));
    if (SHELL_SYNTAX.test(start) || (closeCommand !== undefined && SHELL_SYNTAX.test(closeCommand))) {
      results.push({
        kind: 'untranslated',
        door: name,
        why: 'its command uses shell syntax, and the command backend runs one program with arguments, no shell: put the commands in a script and name the script',
      });
      continue;
    }
    const open = templateOf(start);
    if (open === undefined) {
      results.push({
        kind: 'untranslated',
        door: name,
        why: 'no port in its command (--dport N, -d N, port N), and a knock opens ports: write a [firewall_command] template by hand',
      });
      continue;
    }
    const close = closeCommand === undefined ? undefined : templateOf(closeCommand);
    if (close === undefined || formatPortSpec(close.port) !== formatPortSpec(open.port)) {
      results.push({
        kind: 'untranslated',
        door: name,
        why: `nothing undoes its command for port ${formatPortSpec(open.port)} (no stop_command, no door running its opposite), but knockspa closes every grant: write the close command into [firewall_command]`,
      });
      continue;
    }
    // The command backend's own rules (absolute program, known placeholders): what it would refuse is not translated.
    const refused = [open.template, close.template].map(parseTemplate).find((t) => typeof t === 'string');
    if (refused !== undefined) {
      results.push({ kind: 'untranslated', door: name, why: `the command backend needs ${refused}` });
      continue;
    }
    results.push({
      kind: 'command',
      door: name,
      port: open.port,
      open: open.template,
      close: close.template,
      closedBy: stop !== undefined ? `its stop_command after ${timeout} s` : `door [${closer}]`,
      timeoutSec: timeout,
    });
    if (closer !== undefined && stop === undefined) openers.set(closer, name);
  }
  for (const door of config.doors) {
    if (parsed.get(door.name)?.op !== 'delete' || get(door, 'stop_command') !== undefined || !starts.get(door.name)?.includes('%IP%'))
      continue;
    const opener = openers.get(door.name);
    results.push(
      opener === undefined
        ? { kind: 'untranslated', door: door.name, why: 'it deletes a rule that no door adds' }
        : { kind: 'closer', door: door.name, opener },
    );
  }
  const order = config.doors.map((d) => d.name);
  return results.sort((a, b) => order.indexOf(a.door) - order.indexOf(b.door));
}

/** What a door's knock sequence was, for the comments: it is not needed any more. */
function sequenceNote(door: KnockdSection): string {
  const parts = [
    get(door, 'sequence') === undefined ? undefined : `sequence ${get(door, 'sequence')}`,
    get(door, 'one_time_sequences') === undefined ? undefined : `one_time_sequences ${get(door, 'one_time_sequences')}`,
    get(door, 'seq_timeout') === undefined ? undefined : `seq_timeout ${get(door, 'seq_timeout')}`,
    get(door, 'tcpflags') === undefined ? undefined : `tcpflags ${get(door, 'tcpflags')}`,
  ].filter((p) => p !== undefined);
  return parts.length === 0 ? '' : ` (was ${parts.join(', ')})`;
}

function optionNote(name: string, value: string): string {
  if (!(OPTION_DIRECTIVES as readonly string[]).includes(name)) return 'unknown option, ignored';
  if (name === 'interface')
    return `knockd sniffed ${value}; knockspa can too: listen = "pcap" with interface = "${value}" (or keep listen = "udp")`;
  if (name === 'pidfile') return 'not needed: run knockspa under systemd (packaging/knockspa.service)';
  return 'knockspa logs JSON lines to stdout (journald under systemd)';
}

export interface Translation {
  readonly toml: string;
  readonly translated: number;
  readonly untranslated: ReadonlyArray<{ readonly door: string; readonly why: string }>;
}

export function translateKnockd(config: KnockdConfig, opts: ImportOptions = {}): Translation {
  const user = opts.user ?? 'knocker';
  if (!USER_NAME.test(user))
    throw new UsageError(
      `--user: expected a name like "alice" (lowercase letters, digits, _ . -; at most 32), got ${JSON.stringify(user)}`,
    );
  if (opts.serverId !== undefined && !SERVER_ID.test(opts.serverId))
    throw new UsageError(`--server-id: expected a host-name-like identity, got ${JSON.stringify(opts.serverId)}`);
  let results = translateDoors(config);
  const portDoors = results.filter((r) => r.kind === 'ports');
  // One daemon, one firewall backend: command doors need firewall = "command", with one template.
  const commandDoors = results.filter((r) => r.kind === 'command');
  const template = portDoors.length === 0 ? commandDoors[0] : undefined;
  results = results.map((r) => {
    if (r.kind !== 'command' || (template !== undefined && r.open === template.open && r.close === template.close)) return r;
    const why =
      template === undefined
        ? `it needs firewall = "command", but the doors above use iptables and a knockspa server has one firewall backend: run a second knockspa for it with [firewall_command] open = ${JSON.stringify(r.open)}, close = ${JSON.stringify(r.close)}`
        : `it needs another command template than [${template.door}], and a knockspa server has one: run a second knockspa for it`;
    return { kind: 'untranslated', door: r.door, why };
  });
  const granted = results.filter(
    (r): r is Extract<DoorResult, { kind: 'ports' | 'command' }> => r.kind === 'ports' || r.kind === 'command',
  );
  results = results.map((r) =>
    r.kind === 'closer' && !granted.some((g) => g.door === r.opener)
      ? { kind: 'untranslated', door: r.door, why: `it closes what [${r.opener}] opens, which is not translated` }
      : r,
  );
  const untranslated = results.filter((r): r is Extract<DoorResult, { kind: 'untranslated' }> => r.kind === 'untranslated');

  const doorsByName = new Map(config.doors.map((d) => [d.name, d]));
  const lines = [
    `# knockspa server config translated from ${config.file} by \`knockspa import-knockd\`.`,
    '# Review it, then check it: knockspa server --config THIS_FILE --check   (and: knockspa doctor --config THIS_FILE)',
    '#',
    `# knockd has no users: whoever knew a door's sequence could open it. Here every port belongs to user`,
    `# "${user}", whose key replaces the sequences. Better: one [users.NAME] table and one key per person:`,
    '#   knockspa keygen --user NAME --out /etc/knockspa/keys',
    '# The knock is now one signed UDP packet to the SPA port; the old knock ports need not be watched.',
    '#',
    '# Doors:',
  ];
  for (const r of results) {
    const seq = sequenceNote(doorsByName.get(r.door) as KnockdSection);
    if (r.kind === 'ports' || r.kind === 'command') {
      const how = r.kind === 'command' ? 'through the [firewall_command] template' : 'with iptables / ip6tables';
      lines.push(
        `#   [${r.door}]${seq}`,
        `#     -> opens ${formatPortSpec(r.port)} ${how}: knockspa open ${formatPortSpec(r.port)}; closed by ${r.closedBy}`,
      );
    } else if (r.kind === 'closer') {
      const opened = granted.find((g) => g.door === r.opener) as Extract<DoorResult, { kind: 'ports' | 'command' }>;
      lines.push(`#   [${r.door}]${seq}`, `#     -> closes what [${r.opener}] opens: knockspa close ${formatPortSpec(opened.port)}`);
    } else lines.push(`#   [${r.door}]${seq}`, `#     NOT TRANSLATED: ${r.why}`);
    const door = doorsByName.get(r.door) as KnockdSection;
    if (get(door, 'start_command_6', 'command_6', 'stop_command_6') !== undefined)
      lines.push(
        `#     (its IPv6 commands are not used: ${r.kind === 'command' ? 'the template serves both families; check that it handles IPv6 addresses' : 'knockspa runs ip6tables for IPv6 addresses itself'})`,
      );
    if (get(door, 'target') !== undefined)
      lines.push(`#     (target = ${get(door, 'target')} has no equivalent: knocks are for this server)`);
    for (const d of door.directives.keys())
      if (!(DOOR_DIRECTIVES as readonly string[]).includes(d)) lines.push(`#     (unknown directive ${d} ignored)`);
  }
  const options = config.options?.directives ?? new Map<string, { value: string }>();
  if (options.size > 0) lines.push('#', '# [options]:');
  for (const [name, { value }] of options) lines.push(`#   ${name}${value === '' ? '' : ` = ${value}`}: ${optionNote(name, value)}`);

  if (granted.length === 0) {
    lines.push('#', '# Nothing could be translated: no door opens a port for the knocking address in a way knockspa can repeat.');
    return { toml: `${lines.join('\n')}\n`, translated: 0, untranslated };
  }
  const timeouts = granted.map((r) => r.timeoutSec).filter((t): t is number => t !== undefined);
  const untimed = granted.some((r) => r.timeoutSec === undefined);
  const top: Record<string, unknown> = {
    listen: 'udp',
    port: DEFAULT_SPA_PORT,
    firewall: template !== undefined ? 'command' : 'iptables',
    ...(opts.serverId === undefined ? {} : { server_id: opts.serverId }),
    keys_dir: 'keys',
    state_dir: '/var/lib/knockspa',
    ...(timeouts.length === 0 ? {} : { default_duration: Math.min(...timeouts) }),
  };
  const ports = [...new Set(granted.map((r) => formatPortSpec(r.port)))];
  const maxDuration = untimed ? UNTIMED_MAX_DURATION : Math.max(...timeouts);
  lines.push('');
  if (opts.serverId === undefined)
    lines.push("# server_id: this host's name unless set; keys are bound to it (knockspa keygen --server-id).");
  if (timeouts.length > 0) lines.push('# default_duration: the shortest cmd_timeout of the doors (knockd closed them after it).');
  if (template !== undefined)
    lines.push(
      '# firewall = "command" runs the doors\' own commands ([firewall_command] below), one program with its',
      '# arguments, no shell; %IP%, %PROTO%, %PORT% are filled in per grant.',
    );
  lines.push(stringify(top).trimEnd());
  if (template !== undefined) lines.push('', stringify({ firewall_command: { open: template.open, close: template.close } }).trimEnd());
  lines.push('');
  if (untimed)
    lines.push(
      `# max_duration ${UNTIMED_MAX_DURATION}: knockd kept some doors open until their close knock; a grant here ends at`,
      '# `knockspa close`, or after its duration at the latest.',
    );
  lines.push(stringify({ users: { [user]: { ports, max_duration: maxDuration } } }).trimEnd());
  return { toml: `${lines.join('\n')}\n`, translated: granted.length, untranslated };
}

/** The command: prints the TOML on stdout and a summary on stderr; exit 0 if a door was translated. */
export function runImportKnockd(path: string, opts: ImportOptions, out: (text: string) => void, err: (line: string) => void): number {
  const config = loadKnockdConfig(path);
  const t = translateKnockd(config, opts);
  out(t.toml);
  const total = config.doors.length;
  for (const u of t.untranslated) err(`knockspa: [${u.door}] not translated: ${u.why}`);
  if (t.translated === 0) {
    err(`knockspa: no door of ${config.file} could be translated (${total} in all); see the reasons above`);
    return 1;
  }
  err(
    `knockspa: ${total - t.untranslated.length} of ${total} doors translated. Review the output, then: knockspa server --config FILE --check`,
  );
  return 0;
}
