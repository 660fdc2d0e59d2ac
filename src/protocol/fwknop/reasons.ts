/**
 * Why a fwknop packet was refused (docs/protocol.md §8.4): a closed set, in verification order.
 * Every reason is prefixed "fwknop-" so a log line says which format the packet was taken for.
 * @module
 */
export const FWKNOP_REJECT_REASONS = [
  'fwknop-bad-length',
  'fwknop-bad-base64',
  'fwknop-bad-prefix',
  'fwknop-unknown-key',
  'fwknop-rate-limited',
  'fwknop-no-mac',
  'fwknop-bad-mac',
  'fwknop-bad-ciphertext',
  'fwknop-bad-padding',
  'fwknop-bad-encoding',
  'fwknop-bad-digest-length',
  'fwknop-bad-digest',
  'fwknop-bad-fields',
  'fwknop-bad-random',
  'fwknop-bad-user',
  'fwknop-bad-timestamp',
  'fwknop-bad-version',
  'fwknop-bad-message-type',
  'fwknop-command-refused',
  'fwknop-nat-refused',
  'fwknop-server-auth-refused',
  'fwknop-bad-address',
  'fwknop-bad-ports',
  'fwknop-bad-timeout',
  'fwknop-stale',
  'fwknop-future',
  'fwknop-replay',
  'fwknop-replay-cache-full',
  'fwknop-user-over-quota',
] as const;

export type FwknopRejectReason = (typeof FWKNOP_REJECT_REASONS)[number];
