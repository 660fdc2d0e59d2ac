/**
 * Wire constants of the SSH-key format (docs/protocol.md §9): a knock signed with the user's SSH key,
 * its body encrypted to the server's X25519 key. Changing any of them changes the protocol.
 * @module
 */
import { BODY_SIZE } from '../constants.js';

/** First byte: not printable ASCII (never fwknop's base64) and not v1's 0xCB. */
export const SSH_MAGIC = 0xcc;
export const SSH_VERSION = 1;

export const CANDIDATE_ID_SIZE = 8;
export const X25519_KEY_SIZE = 32;
export const AEAD_TAG_SIZE = 16;

export const SSH_OFF_MAGIC = 0;
export const SSH_OFF_VERSION = 1;
/** At the same offset as v1's key id, so the kernel screen reads both with one expression. */
export const SSH_OFF_CANDIDATE = 2;
export const SSH_OFF_EPHEMERAL = SSH_OFF_CANDIDATE + CANDIDATE_ID_SIZE; // 10
export const SSH_HEADER_SIZE = SSH_OFF_EPHEMERAL + X25519_KEY_SIZE; // 42
export const SSH_OFF_BODY = SSH_HEADER_SIZE;
export const SSH_SEALED_BODY_SIZE = BODY_SIZE + AEAD_TAG_SIZE; // 96
export const SSH_OFF_SIGNATURE = SSH_OFF_BODY + SSH_SEALED_BODY_SIZE; // 138

/** SSHSIG (OpenSSH PROTOCOL.sshsig): `ssh-keygen -Y sign -n knockspa@v1` makes the same signature. */
export const SSHSIG_MAGIC = 'SSHSIG';
export const SSHSIG_NAMESPACE = 'knockspa@v1';
export const SSHSIG_HASH = 'sha512';

/** HKDF-SHA256 labels and the other domain separators. */
export const SSH_HKDF_SALT = 'knockspa/ssh1';
export const SSH_HKDF_INFO = 'knockspa/ssh1 body';
export const SSH_SERVER_TAG_LABEL = 'knockspa/ssh1 server-key\u0000';

/** sk signatures: the authenticator's user-presence flag (OpenSSH's SSH_SK_USER_PRESENCE_REQD). */
export const SK_FLAG_USER_PRESENCE = 0x01;

/** RSA moduli allowed: below 2048 is weak; above 8192 the packet would not fit a 1280-byte IPv6 MTU. */
export const RSA_MIN_BITS = 2048;
export const RSA_MAX_BITS = 8192;

/** Signature section, first byte for RSA: the hash the signature uses. */
export const RSA_ALG_SHA256 = 1;
export const RSA_ALG_SHA512 = 2;
