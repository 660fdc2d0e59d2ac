// What a reload cannot apply: the reload line names it ("restart to apply cluster", ...).
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig, type ServerConfig } from '../../../src/server/config/config.js';
import { restartNeeded } from '../../../src/server/config/restart-needed.js';

const BASE = `
server_id = "srv.test"
[users.alice]
ports = ["tcp/22"]
`;
const CLUSTER = `
[cluster]
redis = "redis://10.0.0.1:6379/0"
gateway = "gw1"
`;

// One directory: paths in the config (state_dir, keys) resolve alike.
const dir = mkdtempSync(join(tmpdir(), 'knockspa-restart-'));
let files = 0;

function config(text: string): ServerConfig {
  const file = join(dir, `server-${files++}.toml`);
  writeFileSync(file, text);
  return loadConfig(file);
}

const noFilter = (): null => null;

test('[cluster] added, removed or changed needs a restart; the same table does not', () => {
  const alone = config(BASE);
  const grouped = config(BASE + CLUSTER);
  assert.deepEqual(restartNeeded(alone, config(BASE), noFilter), []);
  assert.deepEqual(restartNeeded(grouped, config(BASE + CLUSTER), noFilter), []);
  assert.deepEqual(restartNeeded(alone, grouped, noFilter), ['cluster']);
  assert.deepEqual(restartNeeded(grouped, alone, noFilter), ['cluster']);
  for (const line of ['grants = "here"', 'on_redis_down = "local"', 'name = "other"', 'timeout_ms = 100']) {
    const changed = config(`${BASE}${CLUSTER}${line}\n`);
    assert.deepEqual(restartNeeded(grouped, changed, noFilter), ['cluster'], line);
  }
  assert.deepEqual(restartNeeded(grouped, config(BASE + CLUSTER.replace('10.0.0.1', '10.0.0.2')), noFilter), ['cluster']);
});

test('users and durations apply live; the port does not, beside the cluster', () => {
  const grouped = config(BASE + CLUSTER);
  const moreUsers = config(`${BASE}[users.bob]\nports = ["tcp/22"]\n${CLUSTER}`);
  assert.deepEqual(restartNeeded(grouped, moreUsers, noFilter), []);
  const otherPort = config(`port = 62202\n${BASE}${CLUSTER}grants = "here"\n`);
  assert.deepEqual(restartNeeded(grouped, otherPort, noFilter), ['port', 'cluster']);
});
