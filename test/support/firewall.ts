/**
 * Helpers for the firewall-backend e2e tests: reading knockspa's nftables table and iptables chain
 * in the server namespace, `knockspa grants` / `--check` / `--remove-firewall`, and a fast sender
 * of many crafted knocks from the client namespace (one node process, paced by the daemon's log).
 * @module
 */
import type { TestNet } from '../lab/netns.js';
import { NODE, type NsProcess, type RunResult } from '../lab/process.js';
import type { Daemon } from './knockspa.js';
import { CLI, SPA_PORT } from './knockspa.js';

export interface NftElement {
  readonly ip: string;
  readonly proto: string;
  readonly port: number;
  /** Seconds the kernel still keeps it. */
  readonly expires: number | undefined;
  readonly comment: string | undefined;
}

/** The elements of a set (default: knockspa's own allow4/allow6); [] if the set or table is missing. */
export async function nftElements(net: TestNet, family: 4 | 6 = 4, set = `inet knockspa allow${family}`): Promise<NftElement[]> {
  const r = await net.run(net.srv, ['nft', '-j', 'list', 'set', ...set.split(' ')]);
  if (r.code !== 0) return [];
  const doc = JSON.parse(r.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  const elems = doc.nftables.find((i) => i.set !== undefined)?.set?.elem ?? [];
  return elems.map((item) => {
    const e = (item as { elem?: { val: { concat: unknown[] }; expires?: number; comment?: string } }).elem;
    const parts = e?.val.concat ?? (item as { concat: unknown[] }).concat;
    return { ip: String(parts[0]), proto: String(parts[1]), port: Number(parts[2]), expires: e?.expires, comment: e?.comment };
  });
}

/** "IP PROTO/PORT" of each element, sorted. */
export async function nftGrants(net: TestNet, family: 4 | 6 = 4, set?: string): Promise<string[]> {
  return (await nftElements(net, family, set)).map((e) => `${e.ip} ${e.proto}/${e.port}`).sort();
}

export async function hasNftTable(net: TestNet): Promise<boolean> {
  return (await net.run(net.srv, ['nft', 'list', 'table', 'inet', 'knockspa'])).code === 0;
}

/** `nft list ruleset` of the server namespace. */
export async function nftRuleset(net: TestNet): Promise<string> {
  return (await net.runOk(net.srv, ['nft', 'list', 'ruleset'])).stdout;
}

/** Runs the knockspa CLI in the server namespace (as the admin would). */
export function cliInServer(net: TestNet, args: readonly string[]): Promise<RunResult> {
  return net.run(net.srv, [NODE, CLI, ...args], { timeoutMs: 30_000 });
}

export interface ListedGrant {
  user: string;
  ip: string;
  proto: string;
  port: number;
  deadline: string;
  leftSec: number;
}

/** `knockspa grants --config FILE --json [--from SOURCE]`, parsed; throws unless it exits 0. */
export async function listGrants(net: TestNet, configPath: string, from?: 'firewall' | 'state'): Promise<ListedGrant[]> {
  const r = await cliInServer(net, ['grants', '--config', configPath, '--json', ...(from === undefined ? [] : ['--from', from])]);
  if (r.code !== 0) throw new Error(`knockspa grants exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ListedGrant);
}

/** Reads hex packets from stdin, one per line, and sends each to host:port as it arrives. */
const BLASTER = `
const dgram = require('node:dgram');
const [host, port] = process.argv.slice(1);
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
let buf = '';
let inFlight = 0;
let ended = false;
const finish = () => { if (ended && inFlight === 0) { console.log('done'); s.close(); } };
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const hex = buf.slice(0, i); buf = buf.slice(i + 1);
    if (hex === '') continue;
    inFlight++;
    s.send(Buffer.from(hex, 'hex'), Number(port), host, (e) => { if (e) console.error(e.message); inFlight--; finish(); });
  }
});
process.stdin.on('end', () => { ended = true; finish(); });
`;

/**
 * Sends many packets from the client namespace with one process, `chunk` at a time: the next chunk
 * goes once the daemon has logged a knock or reject for each packet so far (so no socket buffer overflows).
 */
export async function sendPaced(net: TestNet, daemon: Daemon, packets: readonly Uint8Array[], chunk = 100): Promise<void> {
  const sender: NsProcess = net.spawnIn(net.cli, [NODE, '-e', BLASTER, net.serverV4, String(SPA_PORT)]);
  const since = daemon.mark();
  const handled = (): number => daemon.proc.find((l) => l.event === 'knock' || l.event === 'reject', since).length;
  for (let sent = 0; sent < packets.length;) {
    const next = packets.slice(sent, sent + chunk);
    sender.write(next.map((p) => `${Buffer.from(p).toString('hex')}\n`).join(''));
    sent += next.length;
    const want = sent;
    await daemon.proc.waitUntil(
      () => (handled() >= want ? true : undefined),
      30_000,
      `the daemon to handle ${want} packets (handled ${handled()})`,
    );
  }
  sender.child.stdin?.end();
  await sender.waitForLine((l) => l === 'done', 10_000);
}
