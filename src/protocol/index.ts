/**
 * knockspa protocol v1: pure code, no I/O, no clock, no randomness of its own.
 * @module
 */
export * from './address.js';
export * from './body.js';
export * from './constants.js';
export * from './keyfile.js';
export * from './keyring.js';
export * from './keys.js';
export * from './packet.js';
export * from './ports.js';
export * from './reasons.js';
export * from './replay.js';
