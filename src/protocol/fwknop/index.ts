/**
 * fwknop's SPA format (Rijndael + HMAC-SHA256): pure code, no I/O, no clock, no randomness of its own.
 * @module
 */
export * from './base64.js';
export * from './cipher.js';
export * from './constants.js';
export * from './keyring.js';
export * from './keys.js';
export * from './message.js';
export * from './packet.js';
export * from './reasons.js';
