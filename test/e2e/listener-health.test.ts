/**
 * A daemon that cannot receive must never look healthy: in pcap mode, with the interface deleted,
 * doctor (asking the daemon over its control socket) fails on the lost capture and the metrics
 * say the listener is down; once the interface is back, both say it is receiving again, and the
 * last-packet time moves with the next knock.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { recreateLink, type TestNet } from '../lab/netns.js';
import { NODE, runOk } from '../lab/process.js';
import { requires } from '../lab/requirements.js';
import { e2eNet, withScenario } from '../support/e2e.js';
import { cliInServer } from '../support/firewall.js';
import { knockOk } from '../support/knockspa.js';

const METRICS = '127.0.0.1:9733';

async function scrape(net: TestNet): Promise<string> {
  const r = await net.run(
    net.srv,
    [NODE, '-e', `fetch('http://${METRICS}/metrics').then(async (r) => process.stdout.write(await r.text()))`],
    {
      timeoutMs: 10_000,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

test('listener health in doctor and metrics', { timeout: 180_000 }, async (t) => {
  const net = await e2eNet(t);
  if (net === null) return;
  const host = net.serverV4;

  await t.test('pcap mode, interface deleted: doctor fails and listener_down is 1; back: ok and 0', async (t) => {
    if (!requires(t, ['pcap'])) return;
    await withScenario(t, net, { listen: 'pcap', extra: { metrics: { listen: METRICS } } }, async (s) => {
      const key = s.site.keyPath('alice');
      let m = s.daemon.mark();
      await knockOk(net, 'open', ['22'], { host, key, duration: 5 });
      await s.daemon.waitEvent('open', { ip: net.clientV4 }, { since: m });
      const first = sample(await scrape(net), 'knockspa_listener_last_packet_timestamp_seconds') ?? 0;
      assert.ok(first > 0, 'the knock was seen');

      m = s.daemon.mark();
      await runOk(null, ['ip', '-n', net.srv, 'link', 'del', net.srvIf]);
      const lost = await s.daemon.waitEvent('listener-error', {}, { since: m, timeoutMs: 5_000 });
      const down = await scrape(net);
      assert.equal(sample(down, 'knockspa_listener_down'), 1);
      assert.equal(sample(down, `knockspa_listener_errors_total{reason="${String(lost.reason)}"}`), 1);
      const sick = await cliInServer(net, ['doctor', '--config', s.site.configPath]);
      assert.equal(sick.code, 1, sick.stdout);
      assert.match(
        sick.stdout,
        new RegExp(
          `^fail\\s+the daemon \\(pid \\d+\\) cannot receive knocks: pcap .* lost \\(${String(lost.reason)}\\) .*last saw a packet \\d+ s ago`,
          'm',
        ),
      );

      await recreateLink(net);
      await s.daemon.waitEvent('listener-recovered', {}, { since: m, timeoutMs: 15_000 });
      // Knock until one gets through (a first frame can be lost right after the link is back):
      // the listener receives again, and then doctor and the metrics must say so.
      let opened = false;
      for (let attempt = 0; attempt < 3 && !opened; attempt++) {
        await knockOk(net, 'open', ['22'], { host, key, duration: 5, allowIp: net.client2V4 });
        opened = await s.daemon.waitEvent('open', { ip: net.client2V4 }, { since: m, timeoutMs: 3_000 }).then(
          () => true,
          () => false,
        );
      }
      assert.ok(opened, 'a knock after the recovery opens');
      const up = await scrape(net);
      assert.equal(sample(up, 'knockspa_listener_down'), 0);
      // The link coming back may cost the capture once more on the way; each loss was recovered.
      const losses = s.daemon.events('listener-error', m).length;
      assert.equal(sample(up, 'knockspa_listener_recoveries_total'), losses, `${losses} losses, each recovered`);
      assert.ok((sample(up, 'knockspa_listener_last_packet_timestamp_seconds') ?? 0) > first, 'the last-packet time moved');
      const well = await cliInServer(net, ['doctor', '--config', s.site.configPath]);
      assert.match(well.stdout, /^ok\s+the daemon \(pid \d+, pcap .*\) last saw a packet \d+ s ago/m, well.stdout);
      assert.doesNotMatch(well.stdout, /cannot receive knocks/);
    });
  });
});
