/**
 * Wire constants of fwknop's SPA format (Rijndael + HMAC-SHA256, as fwknop 2.5+ sends by default),
 * as far as knockspa speaks it (docs/protocol.md §8).
 * @module
 */

/** OpenSSL's salted-ciphertext header; every fwknop Rijndael ciphertext starts with it. */
export const SALTED_MAGIC = 'Salted__';
export const SALT_SIZE = 8;
/** "Salted__" ‖ salt: the first AES block's worth of the ciphertext is this header. */
export const SALTED_HEADER_SIZE = SALTED_MAGIC.length + SALT_SIZE; // 16
/** The first 10 base64 characters of "Salted__": constant, so clients strip them from the wire. */
export const SALTED_PREFIX_B64 = 'U2FsdGVkX1';

export const AES_BLOCK_SIZE = 16;
export const AES_KEY_SIZE = 32;

/** HMAC-SHA256 tag, base64 without padding, appended to the packet. */
export const HMAC_TAG_SIZE = 32;
export const HMAC_B64_LENGTH = 43;

/**
 * Shortest datagram that could be a fwknop packet we accept: the fields' shortest plaintext (71
 * bytes) pads to 80, plus the 16-byte header is 96 bytes = 128 base64 characters, less the
 * 10-character prefix, plus the tag. Longer than a knockspa packet (146), so lengths never overlap.
 */
export const MIN_PACKET_LENGTH = 161;
/**
 * Longest we try: the longest plaintext we accept (8 ports, a 48-byte user name, a client timeout,
 * a SHA-512 digest) is about 500 characters on the wire. fwknop's own limit is 1500; anything
 * longer than this is refused before any HMAC is computed, which bounds the cost of a junk packet.
 */
export const MAX_PACKET_LENGTH = 640;

/** The random value field: exactly this many decimal digits. */
export const RANDOM_VALUE_DIGITS = 16;
/** fwknopd refuses a user name field longer than this (base64 characters, so 48 bytes). */
export const MAX_USERNAME_B64_LENGTH = 64;
/** fwknopd refuses an access message field longer than this (base64 characters). */
export const MAX_MESSAGE_B64_LENGTH = 256;
/** Client timeouts fwknop accepts: 1 to 2^16 seconds. */
export const MAX_CLIENT_TIMEOUT_SEC = 65_536;
/** The protocol version fwknop 2.6 sends, and so does knockspa. */
export const FKO_VERSION = '3.0.0';

/** fwknop message types (lib/fko.h). knockspa accepts ACCESS and CLIENT_TIMEOUT_ACCESS only. */
export const MSG_COMMAND = 0;
export const MSG_ACCESS = 1;
export const MSG_CLIENT_TIMEOUT_ACCESS = 3;
/** NAT access, client timeout NAT access, local NAT access, client timeout local NAT access: refused by name. */
export const MSG_NAT_TYPES: readonly number[] = [2, 4, 5, 6];

/** "Open for the packet's source address" (fwknop -s). */
export const SOURCE_ADDRESS = '0.0.0.0';
