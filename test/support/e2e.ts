/**
 * The common frame of a daemon e2e test: one TestNet per test file, a protected TCP service on 22
 * behind the base ruleset, and per scenario a fresh site (keys, config, state) and daemon.
 * @module
 */
import { strict as assert } from 'node:assert';
import type { TestContext } from 'node:test';
import { TestNet, type Family } from '../lab/netns.js';
import { startTcpService } from '../lab/probes.js';
import type { NsProcess } from '../lab/process.js';
import { NETNS_TOOLS, requires, type Need } from '../lab/requirements.js';
import { baseRuleset, iptablesRules } from '../lab/ruleset.js';
import {
  cliUnavailableReason,
  hasKnockspaChain,
  JUMP_RULE,
  knockspaChain,
  makeSite,
  startDaemon,
  stripComment,
  type Daemon,
  type Site,
  type SiteOptions,
} from './knockspa.js';
import { SPA_PORT } from './knockspa.js';

export const PROTECTED_PORT = 22;
/** Connect timeout for probes that are expected to fail (a dropped SYN just waits). */
export const DROP_TIMEOUT_MS = 700;

/**
 * The TestNet for a test file, or null when the test was skipped: not root, or something in
 * `needs` (beyond namespaces, iptables and nft, which every scenario uses) missing, outside CI
 * (lab/requirements.ts). Fails (does not skip) when the CLI is not built: that is a broken build,
 * not a missing capability.
 */
export async function e2eNet(t: TestContext, needs: readonly Need[] = []): Promise<TestNet | null> {
  if (!requires(t, ['netns', ...NETNS_TOOLS, ...needs])) return null;
  const why = await cliUnavailableReason();
  if (why !== null) throw new Error(`knockspa CLI unusable: ${why}`);
  return TestNet.create(t);
}

const services = new WeakMap<TestNet, Promise<NsProcess>>();

/** The TCP service on {@link PROTECTED_PORT} in the server namespace (started once per TestNet). */
export function service(net: TestNet): Promise<NsProcess> {
  let p = services.get(net);
  if (p === undefined) {
    p = startTcpService(net, PROTECTED_PORT);
    services.set(net, p);
  }
  return p;
}

export interface Scenario {
  readonly net: TestNet;
  readonly site: Site;
  daemon: Daemon;
  /** Every daemon started in this scenario, in order (restarts add to it). */
  readonly daemons: readonly Daemon[];
  /** `iptables -S INPUT` / `ip6tables -S INPUT` right after the base ruleset went in. */
  readonly base: { v4: string[]; v6: string[] };
  /** Current INPUT rules of the server namespace. */
  rules(family?: Family): Promise<string[]>;
  /** What the daemon added: INPUT rules beyond the base ruleset and the jump, then KNOCKSPA's rules without their comments. */
  extra(family?: Family): Promise<string[]>;
  /** Asserts INPUT equals the base ruleset (plus, while the daemon runs, its jump) and KNOCKSPA is empty, in both families. */
  assertBase(message?: string): Promise<void>;
  /** After a clean stop: INPUT exactly the base ruleset and no KNOCKSPA chain, in both families. */
  assertPristine(message?: string): Promise<void>;
  /** Stops the daemon (SIGTERM) and starts it again with the same config and state. */
  restart(): Promise<Daemon>;
  /** Starts the daemon again after it stopped. */
  startAgain(): Promise<Daemon>;
}

export interface ScenarioOptions extends SiteOptions {
  /** Start the daemon. Default true. */
  start?: boolean;
  /** 'iptables' (default): the README's base ruleset drops the port; 'none': no rules at all (nftables' own table protects). */
  base?: 'iptables' | 'none';
}

/**
 * Fresh base ruleset, service, site and daemon for one test; the daemon is stopped after the test
 * (and its output printed as a diagnostic if the test failed).
 */
export async function scenario(t: TestContext, net: TestNet, opts: ScenarioOptions = {}): Promise<Scenario> {
  // Whatever an earlier scenario left (a killed daemon's chain, knockspa's nftables table) goes first.
  await net.runOk(net.srv, ['nft', 'flush', 'ruleset']);
  const base =
    (opts.base ?? 'iptables') === 'iptables'
      ? await baseRuleset(net, PROTECTED_PORT, { spaPort: SPA_PORT, udpMode: (opts.listen ?? 'udp') === 'udp' })
      : { v4: await iptablesRules(net, net.srv, 4), v6: await iptablesRules(net, net.srv, 6) };
  await service(net);
  const site = await makeSite(net, opts);
  const daemons: Daemon[] = [];
  t.after(async () => {
    for (const d of daemons) await d.stop('SIGTERM', 3_000);
  });
  const start = async (): Promise<Daemon> => {
    const d = await startDaemon(net, site.configPath);
    daemons.push(d);
    return d;
  };
  const rules = (family: Family = 4): Promise<string[]> => iptablesRules(net, net.srv, family);
  const s: Scenario = {
    net,
    site,
    daemon: undefined as unknown as Daemon,
    daemons,
    base,
    rules,
    async extra(family: Family = 4) {
      const b = family === 4 ? base.v4 : base.v6;
      const input = (await rules(family)).filter((r) => !b.includes(r) && r !== JUMP_RULE);
      return [...input, ...(await knockspaChain(net, family)).map(stripComment)];
    },
    async assertBase(message = 'INPUT is the base ruleset, KNOCKSPA empty') {
      for (const family of [4, 6] as const) {
        const tool = family === 4 ? 'iptables' : 'ip6tables';
        assert.deepEqual(
          (await rules(family)).filter((r) => r !== JUMP_RULE),
          family === 4 ? base.v4 : base.v6,
          `${message} (${tool})`,
        );
        assert.deepEqual(await knockspaChain(net, family), [], `${message} (${tool} KNOCKSPA)`);
      }
    },
    async assertPristine(message = 'INPUT is exactly the base ruleset, no KNOCKSPA chain') {
      assert.deepEqual(await rules(4), base.v4, `${message} (iptables)`);
      assert.deepEqual(await rules(6), base.v6, `${message} (ip6tables)`);
      assert.equal(await hasKnockspaChain(net, 4), false, `${message} (iptables KNOCKSPA)`);
      assert.equal(await hasKnockspaChain(net, 6), false, `${message} (ip6tables KNOCKSPA)`);
    },
    async restart() {
      await s.daemon.stop('SIGTERM');
      s.daemon = await start();
      return s.daemon;
    },
    async startAgain() {
      s.daemon = await start();
      return s.daemon;
    },
  };
  if (opts.start ?? true) s.daemon = await start();
  return s;
}

/** Runs fn; on failure, attaches the daemon's recent log to the error so the report shows it. */
export async function withLog<T>(s: Pick<Scenario, 'daemons'>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as Error;
    s.daemons.forEach((d, i) => {
      e.message += `\n--- daemon #${i + 1} of ${s.daemons.length} output ---\n${d.describe()}`;
    });
    throw e;
  }
}

/** What a scenario with these options needs beyond {@link e2eNet}'s: the pcap module for listen = "pcap". */
export function scenarioNeeds(opts: ScenarioOptions): Need[] {
  return opts.listen === 'pcap' ? ['pcap'] : [];
}

/**
 * scenario() + withLog(): the usual body of one e2e subtest. Skips it (fails it in CI) when the
 * machine lacks what the options need ({@link scenarioNeeds}).
 */
export async function withScenario(
  t: TestContext,
  net: TestNet,
  opts: ScenarioOptions,
  body: (s: Scenario) => Promise<void>,
): Promise<void> {
  if (!requires(t, scenarioNeeds(opts))) return;
  const s = await scenario(t, net, opts);
  await withLog(s, () => body(s));
}
