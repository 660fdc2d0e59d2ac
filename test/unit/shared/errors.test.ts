// Which errors exit 2: by name, since server and doctor code throw from their own copies of the classes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, isUsageError, shown, UsageError } from '../../../src/shared/errors.js';

test('usage and config errors are usage errors, by name; others are not', () => {
  assert.ok(isUsageError(new UsageError('x')));
  assert.ok(isUsageError(new ConfigError('f', 'k', 'e')));
  // What the bundled CLI sees from server or doctor code: another class of the same name.
  const foreign = Object.assign(new Error('x'), { name: 'UsageError' });
  assert.ok(isUsageError(foreign));
  assert.ok(isUsageError(Object.assign(new Error('x'), { name: 'ConfigError' })));
  for (const other of [
    new Error('x'),
    new TypeError('x'),
    Object.assign(new Error('x'), { name: 'FirewallError' }),
    'UsageError',
    null,
    undefined,
  ])
    assert.ok(!isUsageError(other), String(other));
});

test('a config error names the file, then the key, then what was expected', () => {
  const err = new ConfigError('/etc/knockspa/server.toml', 'spa_port', 'expected 1..65535, got 0');
  assert.equal(err.message, '/etc/knockspa/server.toml: spa_port: expected 1..65535, got 0');
  assert.ok(err instanceof UsageError);
  assert.equal(new ConfigError('/f.toml', '', 'not valid TOML').message, '/f.toml: not valid TOML');
});

test('shown renders a config value for an error message', () => {
  assert.equal(shown(undefined), 'nothing');
  assert.equal(shown('a"b'), '"a\\"b"');
  assert.equal(shown([1]), 'an array');
  assert.equal(shown({}), 'a table');
  assert.equal(shown(7), '7');
});
