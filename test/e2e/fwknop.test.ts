/**
 * fwknop's wire format against Debian's real binaries (fwknop-client, fwknop-server 2.6.10):
 * - Debian's `fwknop` client opens a port on a knockspa server (-A tcp/22 with -a IP, and with -s);
 *   its packet replayed byte for byte opens nothing; a wrong HMAC key opens nothing; NAT and command
 *   messages are refused by name; fwknop's published bad inputs are refused over the wire, each with
 *   its reason.
 * - knockspa's client (--format fwknop) opens a port on Debian's fwknopd.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import {
  appendDigest,
  encodeBase64Text,
  parseKeyPair,
  randomValueFrom,
  sealFwknopPacket,
  sealPlaintext,
  type FwknopKeys,
} from '../../src/protocol/fwknop/index.js';
import type { PortSpec } from '../../src/protocol/ports.js';
import { FWKNOP_NEEDS, fwknopClient, newFwknopKeys, startFwknopd, type FwknopKeysB64 } from '../lab/fwknop.js';
import { canConnect, sendUdp, tcpConnect } from '../lab/probes.js';
import { NODE, sleep } from '../lab/process.js';
import { DROP_TIMEOUT_MS, e2eNet, PROTECTED_PORT, withScenario, type Scenario } from '../support/e2e.js';
import { CLI, grantRule, SPA_PORT } from '../support/knockspa.js';

const CAROL = newFwknopKeys();
const DAVE = newFwknopKeys();
const fwknopUser = (keys: FwknopKeysB64, extra: { max_duration?: number; require_ip?: boolean } = {}) => ({
  ports: ['tcp/22', 'udp/53'],
  max_duration: extra.max_duration ?? 60,
  ...(extra.require_ip === undefined ? {} : { require_ip: extra.require_ip }),
  format: 'fwknop' as const,
  fwknop_key_base64: keys.key,
  fwknop_hmac_key_base64: keys.hmacKey,
});
const USERS = { carol: fwknopUser(CAROL), dave: fwknopUser(DAVE, { require_ip: true }) };

/**
 * fwknop timestamps are whole seconds, and a daemon that starts without a replay cache refuses
 * packets stamped before it started: wait for the next second so a knock cannot share the start's.
 */
async function pastStartSecond(s: Scenario): Promise<void> {
  const startMs = Date.parse(String(s.daemon.start.time));
  await sleep(Math.max(0, Math.floor(startMs / 1000) * 1000 + 1_000 - Date.now()) + 20);
}

/** Waits for exactly one reject with `reason` since `m`, then makes sure nothing was granted. */
async function assertRejected(s: Scenario, m: number, reason: string, source = s.net.clientV4): Promise<void> {
  const rej = await s.daemon.waitEvent('reject', {}, { since: m });
  assert.equal(rej.reason, reason, `reject reason (line: ${JSON.stringify(rej)})`);
  assert.equal(rej.source, source);
  await sleep(300); // time for a wrongly accepted knock to show up
  assert.deepEqual(s.daemon.events('knock', m), [], `no knock accepted (${reason})`);
  assert.deepEqual(s.daemon.events('open', m), [], `no grant opened (${reason})`);
}

test("fwknop: Debian's client and server", { timeout: 300_000 }, async (t) => {
  const net = await e2eNet(t, FWKNOP_NEEDS);
  if (net === null) return;
  const host = net.serverV4;
  const send = (bytes: Uint8Array | string, localAddress?: string): Promise<void> =>
    sendUdp(
      net,
      net.cli,
      host,
      SPA_PORT,
      typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes,
      localAddress === undefined ? {} : { localAddress },
    );

  await t.test('fwknop -A tcp/22 -a IP opens tcp/22 on knockspa; the same bytes again open nothing', (t) =>
    withScenario(t, net, { users: USERS }, async (s) => {
      assert.equal(
        (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome,
        'timeout',
        'closed before the knock',
      );
      await pastStartSecond(s);
      let m = s.daemon.mark();
      // -f 3: a client timeout of 3 s (message type 3), so the grant is gone again well inside the window.
      const sent = await fwknopClient(net, host, SPA_PORT, CAROL, ['-A', 'tcp/22', '-a', net.clientV4, '-f', '3']);
      const knock = await s.daemon.waitEvent('knock', { format: 'fwknop' }, { since: m });
      assert.equal(knock.user, 'carol');
      assert.equal(knock.ip, net.clientV4);
      assert.deepEqual(knock.ports, ['tcp/22']);
      assert.equal(knock.duration, 3, 'the client timeout is honoured');
      await s.daemon.waitEvent('open', { ip: net.clientV4, port: PROTECTED_PORT }, { since: m });
      assert.deepEqual(await s.extra(4), [grantRule(net.clientV4, 'tcp', PROTECTED_PORT)]);
      assert.equal(
        (await tcpConnect(net, net.cli, host, PROTECTED_PORT)).outcome,
        'connected',
        'TCP connect succeeds after the fwknop knock',
      );
      await s.daemon.waitEvent('close', { why: 'timeout', ip: net.clientV4 }, { since: m, timeoutMs: 10_000 });
      await s.assertBase('closed again at the end of the client timeout');

      // The captured packet, byte for byte, from the same address and from another one.
      m = s.daemon.mark();
      await send(sent.packet);
      await assertRejected(s, m, 'fwknop-replay');
      m = s.daemon.mark();
      await send(sent.packet, net.client2V4);
      await assertRejected(s, m, 'fwknop-replay', net.client2V4);
      // The stripped "Salted__" prefix put back: a different datagram, the same HMAC'd bytes.
      m = s.daemon.mark();
      await send(`U2FsdGVkX1${sent.packet}`);
      await assertRejected(s, m, 'fwknop-bad-prefix');
      await s.assertBase('no rule after the replays');
      assert.equal((await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome, 'timeout');
    }),
  );

  await t.test('fwknop -s opens for the source address; require_ip refuses it; max_duration caps the client timeout', (t) =>
    withScenario(t, net, { users: { ...USERS, carol: fwknopUser(CAROL, { max_duration: 20 }) } }, async (s) => {
      await pastStartSecond(s);
      let m = s.daemon.mark();
      await fwknopClient(net, host, SPA_PORT, CAROL, ['-A', 'tcp/22,udp/53', '-s', '-f', '600']);
      const knock = await s.daemon.waitEvent('knock', { format: 'fwknop', user: 'carol' }, { since: m });
      assert.equal(knock.ip, net.clientV4, "0.0.0.0 means the packet's source");
      assert.deepEqual(knock.ports, ['tcp/22', 'udp/53']);
      assert.equal(knock.duration, 20);
      assert.equal(knock.capped, true);
      await s.daemon.waitEvent('open', { ip: net.clientV4, port: 53 }, { since: m });
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);

      m = s.daemon.mark();
      await fwknopClient(net, host, SPA_PORT, DAVE, ['-A', 'tcp/22', '-s']);
      await assertRejected(s, m, 'ip-required');
      m = s.daemon.mark();
      await fwknopClient(net, host, SPA_PORT, DAVE, ['-A', 'tcp/22', '-a', net.clientV4]);
      await s.daemon.waitEvent('knock', { format: 'fwknop', user: 'dave' }, { since: m });
    }),
  );

  await t.test("pcap listener: Debian's client over IPv4, and the longest fwknop packet we accept over IPv6", (t) => {
    const eight: PortSpec[] = [65535, 65534, 65533, 65532].flatMap((port) => [
      { proto: 'tcp' as const, port },
      { proto: 'udp' as const, port },
    ]);
    const carol = { ...fwknopUser(CAROL), ports: ['tcp/22', ...eight.map((p) => `${p.proto}/${p.port}`)] };
    return withScenario(t, net, { listen: 'pcap', users: { carol } }, async (s) => {
      await pastStartSecond(s);
      let m = s.daemon.mark();
      await fwknopClient(net, host, SPA_PORT, CAROL, ['-A', 'tcp/22', '-s']);
      await s.daemon.waitEvent('knock', { format: 'fwknop', user: 'carol', ip: net.clientV4 }, { since: m });
      // 8 ports, a 48-byte user name, a client timeout and a SHA-512 digest: over 470 characters,
      // which with IPv6 and Ethernet headers no longer fits a 512-byte capture.
      const keys = parseKeyPair(CAROL.key, CAROL.hmacKey) as FwknopKeys;
      const longest = sealFwknopPacket(
        keys,
        {
          randomValue: randomValueFrom(new Uint8Array(8).fill(1)),
          username: 'u'.repeat(48),
          timestampSec: Math.floor(Date.now() / 1000),
          version: '3.0.0',
          allowIp: null,
          ports: eight,
          clientTimeoutSec: 65_536,
          digest: 'sha512',
        },
        new Uint8Array(8).fill(2),
      );
      assert.ok(longest.length > 470, `${longest.length} characters`);
      m = s.daemon.mark();
      await sendUdp(net, net.cli, net.serverV6, SPA_PORT, new TextEncoder().encode(longest));
      const knock = await s.daemon.waitEvent('knock', { format: 'fwknop', user: 'carol' }, { since: m });
      assert.equal(knock.ip, net.clientV6, '0.0.0.0 over IPv6: the IPv6 source');
      assert.equal(knock.ports && (knock.ports as string[]).length, 8);
      assert.equal(knock.duration, 60, 'capped at max_duration');
      await s.daemon.waitEvent('open', { ip: net.clientV6, port: 65535, proto: 'udp' }, { since: m });
    });
  });

  await t.test('a wrong HMAC key, NAT and command messages, a port not allowed: refused by name', (t) =>
    withScenario(t, net, { users: USERS }, async (s) => {
      await pastStartSecond(s);
      const cases: Array<[string, FwknopKeysB64, string[], string]> = [
        ['wrong HMAC key', { key: CAROL.key, hmacKey: newFwknopKeys().hmacKey }, ['-A', 'tcp/22', '-a', net.clientV4], 'fwknop-bad-mac'],
        ['NAT access', CAROL, ['-A', 'tcp/22', '-a', net.clientV4, '-N', '10.0.0.5:22'], 'fwknop-nat-refused'],
        ['command message', CAROL, ['-C', 'uname', '-a', net.clientV4], 'fwknop-command-refused'],
        ['port not allowed', CAROL, ['-A', 'tcp/80', '-a', net.clientV4], 'port-not-allowed'],
      ];
      for (const [name, keys, args, reason] of cases) {
        await t.test(name, async () => {
          const m = s.daemon.mark();
          await fwknopClient(net, host, SPA_PORT, keys, args);
          await assertRejected(s, m, reason);
        });
      }
      await s.assertBase('nothing opened');
    }),
  );

  await t.test("fwknop's published bad inputs, over the wire: each refused with its reason", (t) =>
    // The daemon's own screen is under test: the kernel screen would keep the 100-character packet from it.
    withScenario(t, net, { users: USERS, extra: { kernel_screen: false } }, async (s) => {
      await pastStartSecond(s);
      const keys = parseKeyPair(CAROL.key, CAROL.hmacKey) as FwknopKeys;
      const fields = (msg: string, user = 'root'): string =>
        appendDigest(
          ['1234567890123456', encodeBase64Text(user), String(Math.floor(Date.now() / 1000)), '3.0.0', '1', encodeBase64Text(msg)].join(
            ':',
          ),
          'sha256',
        );
      let salt = 0;
      const seal = (plaintext: string): string => sealPlaintext(keys, plaintext, new Uint8Array(8).fill(++salt));
      const good = await fwknopClient(net, host, SPA_PORT, CAROL, ['-A', 'tcp/22', '-a', net.clientV4, '--test']);
      const cases: Array<[string, string, string]> = [
        ['tcp/123456', seal(fields(`${net.clientV4},tcp/123456`)), 'fwknop-bad-ports'],
        ['999.999.999.999', seal(fields('999.999.999.999,tcp/22')), 'fwknop-bad-address'],
        ['over-long user', seal(fields(`${net.clientV4},tcp/22`, 'u'.repeat(60))), 'fwknop-bad-user'],
        ['bad digest length', seal(`${fields(`${net.clientV4},tcp/22`)}A`), 'fwknop-bad-digest-length'],
        ['truncated (ciphertext cut, tag kept)', `${good.packet.slice(0, 120)}${good.packet.slice(-43)}`, 'fwknop-bad-mac'],
        ['truncated to 100 characters: too short for either format', good.packet.slice(0, 100), 'bad-length'],
        ['altered base64', `${good.packet.slice(0, 40)}${good.packet[40] === 'A' ? 'B' : 'A'}${good.packet.slice(41)}`, 'fwknop-bad-mac'],
        ['prepended data', `AAAA${good.packet}`, 'fwknop-bad-mac'],
        ['appended data', `${good.packet}*`, 'fwknop-bad-base64'],
      ];
      // Two source addresses in turn: the reject log allows 5 lines per source before it summarizes.
      for (const [i, [name, packet, reason]] of cases.entries()) {
        await t.test(name, async () => {
          const source = i % 2 === 0 ? net.clientV4 : net.client2V4;
          const m = s.daemon.mark();
          await send(packet, source);
          await assertRejected(s, m, reason, source);
        });
      }
      // The unaltered packet (fwknop --test built it and did not send it) still opens: the cases above were refused for what they changed.
      const m = s.daemon.mark();
      await send(good.packet);
      await s.daemon.waitEvent('knock', { format: 'fwknop', user: 'carol' }, { since: m });
    }),
  );

  await t.test("knockspa open --format fwknop opens a port on Debian's fwknopd", (t) =>
    withScenario(t, net, { start: false }, async (s) => {
      const keys = newFwknopKeys();
      const fwknopd = await startFwknopd(net, SPA_PORT, keys, 'tcp/22');
      assert.equal(
        (await tcpConnect(net, net.cli, host, PROTECTED_PORT, { timeoutMs: DROP_TIMEOUT_MS })).outcome,
        'timeout',
        'closed before the knock',
      );
      const knockspa = (args: string[]) =>
        net.run(
          net.cli,
          [
            NODE,
            CLI,
            'open',
            '22',
            '--host',
            host,
            '--format',
            'fwknop',
            '--fwknop-key-base64',
            keys.key,
            '--fwknop-hmac-key-base64',
            keys.hmacKey,
            ...args,
          ],
          { timeoutMs: 30_000 },
        );
      const r = await knockspa(['--wait', '--wait-timeout', '10']);
      assert.equal(r.code, 0, `knockspa open --format fwknop exited ${r.code}\n${r.stdout}\n${r.stderr}\n${fwknopd.proc.describe()}`);
      assert.match(r.stdout, /tcp\/22 open after \d+ ms/);
      await fwknopd.waitLog(
        new RegExp(`Added access rule to FWKNOP_INPUT for ${net.clientV4.replace(/\./g, '\\.')} -> 0\\.0\\.0\\.0/0 tcp/22`),
      );
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT), true);
      // The same with an explicit address and a client timeout.
      const r2 = await knockspa(['--allow-ip', net.client2V4, '--duration', '20']);
      assert.equal(r2.code, 0, r2.stderr);
      await fwknopd.waitLog(
        new RegExp(`Added access rule to FWKNOP_INPUT for ${net.client2V4.replace(/\./g, '\\.')} -> 0\\.0\\.0\\.0/0 tcp/22, expires`),
      );
      assert.equal(await canConnect(net, net.cli, host, PROTECTED_PORT, { localAddress: net.client2V4 }), true);
      // fwknopd removes its chain when it stops: the base ruleset is back.
      await fwknopd.proc.stop('SIGTERM', 5_000);
      await s.assertBase('fwknopd cleaned up after itself');
    }),
  );
});
