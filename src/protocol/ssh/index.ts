/**
 * The SSH-key knock format (docs/protocol.md §9): pure code, no I/O, no clock, no randomness of its own.
 * @module
 */
export * from './constants.js';
export * from './keyring.js';
export * from './keys.js';
export * from './packet.js';
export * from './public-key.js';
export * from './server-key.js';
export * from './signature.js';
export * from './wire.js';
export * from './x25519.js';
