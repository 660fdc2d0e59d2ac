// Which errors exit 2: by name, since server and doctor code throw from their own copies of the classes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isUsageError, ProfileError, UsageError } from '../../../src/client/errors.js';

test('usage, profile and config errors are usage errors, by name; others are not', () => {
  assert.ok(isUsageError(new UsageError('x')));
  assert.ok(isUsageError(new ProfileError('f', 'k', 'e')));
  // What the bundled CLI sees from server or doctor code: another class of the same name.
  const foreign = Object.assign(new Error('x'), { name: 'UsageError' });
  assert.ok(isUsageError(foreign));
  assert.ok(isUsageError(Object.assign(new Error('x'), { name: 'ConfigError' })));
  for (const other of [new Error('x'), new TypeError('x'), Object.assign(new Error('x'), { name: 'FirewallError' }), 'UsageError', null, undefined])
    assert.ok(!isUsageError(other), String(other));
});
