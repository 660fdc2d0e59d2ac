/**
 * `node --require dist/test/support/builtin-trace.cjs ...`: at exit, prints on stderr every node
 * builtin the process loaded ("BUILTIN net"). CommonJS and loading nothing itself, unlike
 * load-trace.ts (whose ES module hooks load net and the streams), so a test can tell whether a
 * command loaded those. It writes with writeSync: process.stderr on a pipe is a net.Socket.
 * @module
 */
import { writeSync } from 'node:fs';

process.on('exit', () => {
  // Not in @types/node: what node loaded of its own, "NativeModule net" and the like.
  const loaded = (process as unknown as { moduleLoadList: readonly string[] }).moduleLoadList;
  const builtins = loaded.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => `BUILTIN ${entry.slice('NativeModule '.length)}\n`);
  writeSync(2, builtins.join(''));
});
