/**
 * Why a packet was refused (docs/protocol.md §4). A closed set, in verification order.
 * Verification returns one of these instead of throwing, so the reject path allocates nothing.
 * @module
 */
export const REJECT_REASONS = [
  'bad-length',
  'bad-magic',
  'bad-version',
  'unknown-key',
  'bad-mac',
  'bad-signature',
  'touch-required',
  'bad-body',
  'bad-action',
  'bad-ports',
  'bad-address',
  'bad-duration',
  'bad-padding',
  'stale',
  'future',
  'wrong-server',
  'replay',
  'replay-cache-full',
  'user-over-quota',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];
