/**
 * 1,000 different grants opened concurrently and then closed, per backend (nftables, iptables),
 * with the real tools: every one is in the kernel while live and none after, a repeated open adds
 * no duplicate, and the ruleset ends exactly as it began. The knocks are crafted in the test
 * (--allow-ip addresses in 198.18.0.0/15 and 2001:db8::/32) and sent by one process.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { TestNet } from '../lab/netns.js';
import { firewallSnapshot } from '../lab/ruleset.js';
import { e2eNet, withScenario, type Scenario } from '../support/e2e.js';
import { listGrants, nftGrants, sendPaced } from '../support/firewall.js';
import { craftPacket, knockspaChain, stripComment } from '../support/knockspa.js';

const GRANTS = 1000;
/** Half IPv4, half IPv6; none of them the test network's own addresses. */
const ADDRESSES = Array.from({ length: GRANTS }, (_, i) =>
  i % 2 === 0 ? `198.18.${1 + (i >> 9)}.${(i >> 1) & 255}` : `2001:db8:1::${(i + 1).toString(16)}`,
);
/** Opens asked for twice (a second, different packet): they must extend, not duplicate. */
const REPEATS = 200;

interface Backend {
  readonly name: 'nftables' | 'iptables';
  readonly base: 'none' | 'iptables';
  /** What the kernel holds for knockspa: "IP PROTO/PORT", sorted. */
  held(net: TestNet): Promise<string[]>;
  /** The whole ruleset, for before/after comparison. */
  ruleset(net: TestNet): Promise<string>;
}

const BACKENDS: readonly Backend[] = [
  {
    name: 'nftables',
    base: 'none',
    held: async (net) => [...(await nftGrants(net, 4)), ...(await nftGrants(net, 6))].sort(),
    ruleset: async (net) => (await net.runOk(net.srv, ['nft', 'list', 'ruleset'])).stdout,
  },
  {
    name: 'iptables',
    base: 'iptables',
    held: async (net) => {
      const rules = [...(await knockspaChain(net, 4)), ...(await knockspaChain(net, 6))].map(stripComment);
      return rules
        .map((r) => /-s (\S+)\/\d+ -p (\w+) -m \w+ --dport (\d+)/.exec(r))
        .map((m) => `${m?.[1]} ${m?.[2]}/${m?.[3]}`)
        .sort();
    },
    ruleset: async (net) => {
      const snap = await firewallSnapshot(net, net.srv);
      return `${snap.v4}\n${snap.v6}`;
    },
  },
];

async function openAndCloseThousand(s: Scenario, backend: Backend): Promise<void> {
  const { net, daemon } = s;
  const keyFile = s.site.keyPath('alice');
  const expected = ADDRESSES.map((ip) => `${ip} tcp/22`).sort();
  const before = await backend.ruleset(net);
  const opens = ADDRESSES.map((allowIp) => craftPacket({ keyFile, action: 'open', allowIp, durationSec: 240 }));
  const repeats = ADDRESSES.slice(0, REPEATS).map((allowIp) => craftPacket({ keyFile, action: 'open', allowIp, durationSec: 240 }));
  // Each repeat right after its first open, so some land in the same batch.
  const sendOrder = opens.flatMap((p, i) => (i < REPEATS ? [p, repeats[i] as Uint8Array] : [p]));

  let m = daemon.mark();
  await sendPaced(net, daemon, sendOrder);
  await daemon.proc.waitUntil(
    () => (daemon.events('open', m).length >= GRANTS + REPEATS ? true : undefined),
    60_000,
    `${GRANTS + REPEATS} open events`,
  );
  const opened = daemon.events('open', m);
  assert.equal(opened.filter((e) => e.extended === false).length, GRANTS, 'one new grant per address');
  assert.equal(opened.filter((e) => e.extended === true).length, REPEATS, 'repeated opens extended');
  assert.deepEqual(daemon.events('firewall-error', m), [], 'no firewall errors');
  assert.deepEqual(await backend.held(net), expected, `all ${GRANTS} in the kernel, each once`);
  const listed = await listGrants(net, s.site.configPath);
  assert.equal(listed.length, GRANTS, 'knockspa grants lists them all');

  m = daemon.mark();
  await sendPaced(
    net,
    daemon,
    ADDRESSES.map((allowIp) => craftPacket({ keyFile, action: 'close', allowIp })),
  );
  await daemon.proc.waitUntil(() => (daemon.events('close', m).length >= GRANTS ? true : undefined), 60_000, `${GRANTS} close events`);
  assert.deepEqual(await backend.held(net), [], 'none left in the kernel');
  assert.equal(await backend.ruleset(net), before, 'the ruleset ends exactly as it began');
}

test('1,000 concurrent grants', { timeout: 300_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  for (const backend of BACKENDS) {
    await t.test(`${backend.name}: opened together, each in the kernel once, then all closed`, (t) =>
      withScenario(t, net, { base: backend.base, extra: { firewall: backend.name } }, (s) => openAndCloseThousand(s, backend)),
    );
  }
});
