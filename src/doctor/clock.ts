/**
 * Clock checks for both sides of `knockspa doctor`: the time is plausible, and something keeps it
 * synchronized (knocks are refused when client and server differ by more than max_skew).
 * No network and no tool runs: evidence is read from /run and /proc.
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fail, ok, warn, type Finding } from './finding.js';

/** Process names (as in /proc/PID/comm, at most 15 characters) of daemons that discipline the clock. */
const TIME_DAEMONS = ['chronyd', 'ntpd', 'openntpd', 'systemd-timesyn', 'timesyncd', 'ntpsec', 'vmtoolsd'];

function runningTimeDaemon(proc = '/proc'): string | undefined {
  for (const pid of readdirSync(proc)) {
    if (!/^[0-9]+$/.test(pid)) continue;
    try {
      const comm = readFileSync(`${proc}/${pid}/comm`, 'utf8').trim();
      if (TIME_DAEMONS.includes(comm)) return comm;
    } catch {
      // the process exited meanwhile
    }
  }
  return undefined;
}

export function clockFindings(maxSkewSec: number | undefined, now: Date = new Date()): Finding[] {
  const skew = maxSkewSec === undefined ? "the server's max_skew" : `max_skew (${maxSkewSec} s)`;
  const year = now.getUTCFullYear();
  if (year < 2024 || year > 2100)
    return [fail(`clock says ${now.toISOString()}`, 'set the time (e.g. install chrony); every knock is refused while it is this far off')];
  const findings = [ok(`clock says ${now.toISOString()}`)];
  if (existsSync('/run/systemd/timesync/synchronized')) findings.push(ok('clock synchronized by systemd-timesyncd'));
  else {
    const daemon = runningTimeDaemon();
    if (daemon !== undefined) findings.push(ok(`clock kept by ${daemon}`));
    else
      findings.push(
        warn(
          'no time synchronization found (no chronyd, ntpd or systemd-timesyncd running)',
          `install chrony or systemd-timesyncd: knocks are refused when the two clocks differ by more than ${skew}`,
        ),
      );
  }
  return findings;
}
