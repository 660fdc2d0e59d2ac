// Asserts that a config load fails with a ConfigError naming the file and the key, in the "FILE: KEY: expected" form.
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/shared/errors.js';

export function assertConfigError(load: () => unknown, file: string, key: string, expected: RegExp): ConfigError {
  let caught: ConfigError | undefined;
  assert.throws(load, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.file, file);
    assert.equal(err.key, key);
    assert.match(err.message, expected);
    assert.ok(err.message.startsWith(`${file}: ${key}: `), err.message);
    caught = err;
    return true;
  });
  return caught as ConfigError;
}
