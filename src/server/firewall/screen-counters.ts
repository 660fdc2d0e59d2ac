/**
 * The kernel screen's drops per reason (screen.ts), for whoever reports them (doctor, metrics).
 * @module
 */
import type { Firewall } from './firewall.js';
import type { ScreenCounters } from './screen.js';

/** Null where the backend has no screen or it is not in place now. Throws FirewallError if the tool fails. */
export async function readScreenCounters(firewall: Firewall): Promise<ScreenCounters | null> {
  return (await firewall.screenCounters?.()) ?? null;
}
