// The control channel: requests checked like packets (strict fields, bounded, fail closed), and a
// real unix socket served by ControlServer and asked by the client: answers, refusals, limits, mode.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { ask, NoDaemon } from '../../../src/server/control/control-client.js';
import { ControlServer, type ControlHandler } from '../../../src/server/control/control-server.js';
import { matches, MAX_REQUEST_BYTES, parseRequest, type GrantRow } from '../../../src/server/control/protocol.js';

test('parseRequest: the three ops, each with only its own fields', () => {
  assert.deepEqual(parseRequest('{"op":"status"}'), { op: 'status' });
  assert.deepEqual(parseRequest('{"op":"grants"}'), { op: 'grants' });
  assert.deepEqual(parseRequest('{"op":"close","user":"alice"}'), { op: 'close', user: 'alice' });
  assert.deepEqual(parseRequest('{"op":"close","ip":"::ffff:198.18.0.2","port":22,"proto":"tcp"}'), {
    op: 'close',
    ip: '198.18.0.2',
    port: 22,
    proto: 'tcp',
  });
});

test('parseRequest: anything else is refused with what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['', /not JSON/],
    ['[1]', /JSON object/],
    ['null', /JSON object/],
    ['{"op":"shutdown"}', /unknown op/],
    ['{"op":"__proto__"}', /unknown op/],
    ['{"op":"grants","user":"alice"}', /unknown field "user" for op grants/],
    ['{"op":"close"}', /at least one of user, ip, port/],
    ['{"op":"close","user":"Alice Smith"}', /user: expected a user name/],
    ['{"op":"close","user":7}', /user: expected a user name/],
    ['{"op":"close","ip":"300.1.1.1"}', /ip: expected/],
    ['{"op":"close","port":0}', /port: expected an integer from 1 to 65535/],
    ['{"op":"close","port":22.5}', /port/],
    ['{"op":"close","port":"22"}', /port/],
    ['{"op":"close","port":22,"proto":"icmp"}', /proto: expected/],
    ['{"op":"close","proto":"tcp","user":"a"}', /proto needs a port/],
    ['{"op":"close","user":"alice","all":true}', /unknown field "all"/],
    [`{"op":"status","x":"${'a'.repeat(MAX_REQUEST_BYTES)}"}`, /longer than/],
  ];
  for (const [line, expected] of cases) {
    const got = parseRequest(line);
    assert.equal(typeof got, 'string', `${line.slice(0, 60)} refused`);
    assert.match(got as string, expected, line.slice(0, 60));
  }
});

test('matches: every given field must match', () => {
  const g: GrantRow = { user: 'alice', ip: '198.18.0.2', proto: 'tcp', port: 22, deadlineMs: 0 };
  assert.equal(matches({ user: 'alice' }, g), true);
  assert.equal(matches({ user: 'bob' }, g), false);
  assert.equal(matches({ user: 'alice', port: 22, proto: 'udp' }, g), false);
  assert.equal(matches({ ip: '198.18.0.2', port: 22 }, g), true);
});

function serverFixture(t: import('node:test').TestContext): { path: string; closed: unknown[]; handler: ControlHandler } {
  const dir = mkdtempSync(join(tmpdir(), 'knockspa-control-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const grants: GrantRow[] = [
    { user: 'alice', ip: '198.18.0.2', proto: 'tcp', port: 22, deadlineMs: 1 },
    { user: 'bob', ip: '198.18.0.3', proto: 'udp', port: 53, deadlineMs: 2 },
  ];
  const closed: unknown[] = [];
  const handler: ControlHandler = {
    status: () => ({ pid: 1, startedMs: 0, listener: 'udp test', lastPacketMs: 5, listenerError: null, grants: grants.length }),
    grants: () => grants,
    close: async (filter) => {
      closed.push(filter);
      return grants.filter((g) => matches(filter, g));
    },
  };
  return { path: join(dir, 'control.sock'), closed, handler };
}

test('ControlServer: mode 0600, answers status, grants and close; refuses bad requests; removes its socket', async (t) => {
  const { path, closed, handler } = serverFixture(t);
  const server = new ControlServer(path, handler, pino({ enabled: false }));
  await server.start();
  try {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(await ask(path, { op: 'status' }), {
      ok: true,
      status: { pid: 1, startedMs: 0, listener: 'udp test', lastPacketMs: 5, listenerError: null, grants: 2 },
    });
    const listed = await ask(path, { op: 'grants' });
    assert.equal(listed.ok && 'grants' in listed ? listed.grants.length : -1, 2);
    const answer = await ask(path, { op: 'close', user: 'bob' });
    assert.deepEqual(answer, { ok: true, closed: [{ user: 'bob', ip: '198.18.0.3', proto: 'udp', port: 53, deadlineMs: 2 }] });
    assert.deepEqual(closed, [{ user: 'bob' }], 'the handler got the filter without the op');
    const refused = await ask(path, { op: 'close' } as never);
    assert.deepEqual(refused, { ok: false, error: 'close: name at least one of user, ip, port' });
    assert.deepEqual(closed.length, 1, 'a refused request reaches no handler');
  } finally {
    await server.close();
  }
  await assert.rejects(ask(path, { op: 'status' }), (err) => err instanceof NoDaemon);
});

test('ControlServer: a line over the limit is refused and the connection closed; a silent one times out', async (t) => {
  const { path, handler } = serverFixture(t);
  const server = new ControlServer(path, handler, pino({ enabled: false }));
  await server.start();
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const s = createConnection(path);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => (got += d));
      s.on('close', () => resolve(got));
      s.on('error', reject);
      s.write('x'.repeat(MAX_REQUEST_BYTES + 10));
    });
    assert.match(reply, /"ok":false,"error":"request longer than 4096 bytes"/);
    // Several requests on one connection are answered in order.
    const two = await new Promise<string[]>((resolve, reject) => {
      const s = createConnection(path);
      let got = '';
      s.setEncoding('utf8');
      s.on('data', (d: string) => {
        got += d;
        const lines = got.split('\n').filter((l) => l !== '');
        if (lines.length === 2) {
          s.destroy();
          resolve(lines);
        }
      });
      s.on('error', reject);
      s.write('{"op":"grants"}\n{"op":"nope"}\n');
    });
    assert.match(two[0] ?? '', /"grants":\[/);
    assert.match(two[1] ?? '', /unknown op/);
  } finally {
    await server.close();
  }
});

test('ControlServer: replaces a dead socket file, refuses to take over a live one', async (t) => {
  const { path, handler } = serverFixture(t);
  const first = new ControlServer(path, handler, pino({ enabled: false }));
  await first.start();
  const second = new ControlServer(path, handler, pino({ enabled: false }));
  await assert.rejects(second.start(), /another daemon answers on it/);
  assert.equal((await ask(path, { op: 'status' })).ok, true, 'the first still answers');
  await first.close();
});
