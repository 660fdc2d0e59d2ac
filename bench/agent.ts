/**
 * The benchmark's hands in the client namespace. bench/compare.ts starts it once (ip netns exec)
 * and sends one JSON command per stdin line; it answers one JSON line per command. Timing from
 * inside the namespace keeps `ip netns exec` and the bench's own bookkeeping out of the figures.
 *
 * {"op":"race", ...RaceCommand}: starts the clock, then spawns a client command and/or sends
 *   pre-built datagrams, and meanwhile opens a fresh TCP connection to host:port every
 *   `probeEveryMs` (attempts whose SYN was dropped are abandoned after ABANDON_MS) until one
 *   connects. Answers {ok, ms: start -> the start of the first probe that connected, exitMs:
 *   start -> client exit}. The figure includes the wait for the first probe after the rule is
 *   live: half the spacing on average.
 * {"op":"probe", ...ProbeCommand}: starts the clock, sends pre-built datagrams, then waits for the
 *   port the way a client does: `schedule: "short"` with the client's own probe (src/client/probe.ts:
 *   a new connect every 100 ms beside the pending ones), `"single"` with one connect left to the
 *   kernel's SYN retransmits (the client before #19 item 10). Answers {ok, ms: start -> connected}.
 * {"op":"run", argv}: wall time of one command, start to exit (client start-up).
 * Commands run with the `env` their message gives (compare.ts passes a login-like one).
 * {"op":"exit"}.
 * @module
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, isIP, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { probePort } from '../src/client/probe.js';

/** A dropped SYN is retried by the kernel only after 1 s: a new attempt is cheaper than waiting. */
const ABANDON_MS = 150;

export interface Datagram {
  readonly host: string;
  readonly port: number;
  readonly hex: string;
}

export interface RaceCommand {
  readonly op: 'race';
  readonly host: string;
  readonly port: number;
  /** Source address for the probes and the datagrams. */
  readonly localAddress?: string;
  /** Client command to start at time zero. */
  readonly spawn?: readonly string[];
  /** Its environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Datagrams to send at time zero, in order. */
  readonly send?: readonly Datagram[];
  /** Send them when the spawned command exits instead: a stand-in client that only starts up. */
  readonly sendAfterExit?: boolean;
  readonly timeoutMs: number;
  /**
   * Probe spacing. 1 ms and up: timers. Under 1 ms (timers cannot): the agent sleeps in
   * Atomics.wait until the next probe is due, then lets its event loop poll once; sleeping, not
   * spinning, so the daemon and its tool keep both cores.
   */
  readonly probeEveryMs: number;
}

export interface RaceAnswer {
  readonly ok: boolean;
  readonly ms: number | null;
  readonly exitMs: number | null;
  readonly exitCode: number | null;
  readonly attempts: number;
}

export interface ProbeCommand {
  readonly op: 'probe';
  readonly host: string;
  readonly port: number;
  /** Source address for the datagrams (the probes' source is the kernel's choice, as the client's is). */
  readonly localAddress?: string;
  readonly send: readonly Datagram[];
  readonly schedule: 'short' | 'single';
  readonly timeoutMs: number;
}

export interface ProbeAnswer {
  readonly ok: boolean;
  readonly ms: number | null;
}

export interface RunCommand {
  readonly op: 'run';
  readonly argv: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export interface RunAnswer {
  readonly ms: number;
  readonly code: number | null;
}

type Command = RaceCommand | ProbeCommand | RunCommand | { readonly op: 'exit' };

function clock(): () => number {
  const t0 = process.hrtime.bigint();
  return () => Number(process.hrtime.bigint() - t0) / 1e6;
}

function openUdp(family: 4 | 6, localAddress: string | undefined): Promise<UdpSocket> {
  const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: localAddress, port: 0 }, () => resolve(socket));
  });
}

async function race(cmd: RaceCommand): Promise<RaceAnswer> {
  // Sockets for the datagrams are made before the clock starts: sending is all that is timed.
  const udp = new Map<4 | 6, UdpSocket>();
  for (const d of cmd.send ?? []) {
    const family = isIP(d.host) === 6 ? 6 : 4;
    if (!udp.has(family)) udp.set(family, await openUdp(family, cmd.localAddress));
  }
  const payloads = (cmd.send ?? []).map((d) => ({
    ...d,
    bytes: Buffer.from(d.hex, 'hex'),
    socket: udp.get(isIP(d.host) === 6 ? 6 : 4) as UdpSocket,
  }));

  const ms = clock();
  let connectedMs: number | null = null;
  let exitMs: number | null = null;
  let exitCode: number | null = null;
  let attempts = 0;
  const pending = new Map<Socket, number>();

  const answer = await new Promise<RaceAnswer>((resolve) => {
    let finished = false;
    const sendAll = (): void => {
      for (const p of payloads) p.socket.send(p.bytes, p.port, p.host);
    };
    const finish = (ok: boolean): void => {
      if (finished) return;
      finished = true;
      for (const s of pending.keys()) s.destroy();
      resolve({ ok, ms: connectedMs, exitMs, exitCode, attempts });
    };
    const settle = (): void => {
      if (connectedMs !== null && (cmd.spawn === undefined || exitMs !== null)) finish(true);
    };
    if (cmd.spawn !== undefined) {
      const child = spawn(cmd.spawn[0] as string, cmd.spawn.slice(1), { stdio: 'ignore', env: cmd.env });
      child.once('exit', (code) => {
        exitMs = ms();
        exitCode = code;
        if (cmd.sendAfterExit === true && !finished) sendAll(); // not after the race ended (sockets closed)
        settle();
      });
      child.once('error', () => finish(false));
    }
    if (cmd.sendAfterExit !== true) sendAll();

    const attempt = (): void => {
      attempts++;
      const s = connect({ host: cmd.host, port: cmd.port, localAddress: cmd.localAddress });
      const sentMs = ms();
      pending.set(s, sentMs);
      s.on('error', () => pending.delete(s));
      s.once('connect', () => {
        // Timed at the probe's start: the rule was live by then, and a sleeping agent sees the
        // connect up to one spacing late.
        connectedMs ??= sentMs;
        pending.delete(s);
        s.destroy();
        settle();
      });
    };
    let next = 0;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const sleepPaced = cmd.probeEveryMs < 1;
    const tick = (): void => {
      if (finished) return;
      // Not before the first probe: the datagrams and the probes' connects go out in the
      // nextTicks that follow this turn.
      if (sleepPaced && next > 0 && connectedMs === null) Atomics.wait(nap, 0, 0, Math.max(0, next - ms()));
      const now = ms();
      if (now >= cmd.timeoutMs) return finish(false);
      if (connectedMs === null && now >= next) {
        next = now + cmd.probeEveryMs;
        attempt();
        for (const [s, at] of pending) {
          if (now - at <= ABANDON_MS) continue;
          pending.delete(s);
          s.destroy();
        }
      }
      if (sleepPaced && connectedMs === null) setImmediate(tick);
      else setTimeout(tick, 1); // also while a connected race waits for its client to exit
    };
    tick();
  });
  for (const s of udp.values()) s.close();
  return answer;
}

/** One connect, its dropped SYNs resent by the kernel (after 1 s, then 3 s): how the client waited before. */
function singleConnect(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => done(true));
  });
}

async function probe(cmd: ProbeCommand): Promise<ProbeAnswer> {
  const family = isIP(cmd.host) === 6 ? 6 : 4;
  const socket = await openUdp(family, cmd.localAddress);
  const payloads = cmd.send.map((d) => ({ ...d, bytes: Buffer.from(d.hex, 'hex') }));
  const ms = clock();
  // As the client does: the knock is out (its send called back) before the first probe.
  for (const p of payloads) await new Promise((r) => socket.send(p.bytes, p.port, p.host, r));
  let ok: boolean;
  if (cmd.schedule === 'short') {
    const r = await probePort(cmd.host, cmd.port, cmd.timeoutMs);
    ok = r.kind === 'open';
    if (r.kind === 'open') r.socket.destroy();
  } else ok = await singleConnect(cmd.host, cmd.port, cmd.timeoutMs);
  const took = ms();
  socket.close();
  return { ok, ms: ok ? took : null };
}

function run(cmd: RunCommand): Promise<RunAnswer> {
  const ms = clock();
  return new Promise((resolve) => {
    const child = spawn(cmd.argv[0] as string, cmd.argv.slice(1), { stdio: 'ignore', env: cmd.env });
    child.once('exit', (code) => resolve({ ms: ms(), code }));
    child.once('error', () => resolve({ ms: ms(), code: null }));
  });
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const cmd = JSON.parse(line) as Command;
  if (cmd.op === 'exit') break;
  const result = cmd.op === 'race' ? await race(cmd) : cmd.op === 'probe' ? await probe(cmd) : await run(cmd);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
process.exit(0);
