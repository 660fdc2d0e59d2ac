/**
 * Which boot of the machine this is: Linux's random boot id, new at every boot. The state file
 * records it, so a daemon can tell that its state was written before a reboot, when writes not
 * yet fsync'd may have been lost.
 * @module
 */
import { readFileSync } from 'node:fs';

const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

/** The boot id, or undefined where the kernel does not say (not Linux, no /proc). */
export function currentBootId(file = BOOT_ID_FILE): string | undefined {
  try {
    const id = readFileSync(file, 'utf8').trim();
    return id === '' ? undefined : id;
  } catch {
    return undefined;
  }
}
