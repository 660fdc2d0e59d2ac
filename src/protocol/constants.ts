/**
 * Wire constants of knockspa protocol v1 (docs/protocol.md §2 "Packet layout").
 * Specification constants only: changing any of them changes the protocol.
 * Tuning (skew, capacities) lives with the code that uses it.
 * @module
 */

/** First byte of every v1 packet. Not printable ASCII, so never the start of a fwknop (base64) packet. */
export const MAGIC = 0xcb;
export const VERSION = 1;

export const KEY_ID_SIZE = 8;
export const NONCE_SIZE = 24;
export const TAG_SIZE = 32;
export const SECRET_SIZE = 32;
export const SERVER_TAG_SIZE = 16;

/** §2.1 clear header: magic, version, key id, nonce. */
export const OFF_MAGIC = 0;
export const OFF_VERSION = 1;
export const OFF_KEY_ID = 2;
export const OFF_NONCE = OFF_KEY_ID + KEY_ID_SIZE; // 10
export const HEADER_SIZE = OFF_NONCE + NONCE_SIZE; // 34

/** §2.2 body, encrypted. Offsets are relative to the start of the body. */
export const BODY_OFF_TIMESTAMP = 0; // u64 BE, ms since the Unix epoch
export const BODY_OFF_ACTION = 8; // u8
export const BODY_OFF_PORT_COUNT = 9; // u8, 1..MAX_PORTS
export const BODY_OFF_DURATION = 10; // u32 BE, seconds, 0 = server default
export const BODY_OFF_FAMILY = 14; // u8
export const BODY_OFF_ADDRESS = 15; // 16 bytes
export const BODY_OFF_SERVER = 31; // SERVER_TAG_SIZE bytes
export const BODY_OFF_PORTS = BODY_OFF_SERVER + SERVER_TAG_SIZE; // 47
export const PORT_SLOT_SIZE = 3; // proto u8, port u16 BE
export const MAX_PORTS = 8;
export const BODY_OFF_PADDING = BODY_OFF_PORTS + MAX_PORTS * PORT_SLOT_SIZE; // 71
export const BODY_SIZE = 80;

export const OFF_BODY = HEADER_SIZE; // 34
export const OFF_TAG = OFF_BODY + BODY_SIZE; // 114
/** Every v1 packet has exactly this length, whatever it carries. */
export const PACKET_SIZE = OFF_TAG + TAG_SIZE; // 146

export const ACTION_OPEN = 1;
export const ACTION_CLOSE = 2;

/** Address family codes in the body. */
export const FAMILY_SOURCE = 0;
export const FAMILY_IPV4 = 4;
export const FAMILY_IPV6 = 6;

/** IANA protocol numbers. */
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** HKDF-SHA256 labels (§3). */
export const HKDF_SALT = 'knockspa/v1';
export const HKDF_INFO_ENC = 'knockspa/v1 encryption';
export const HKDF_INFO_MAC = 'knockspa/v1 authentication';
export const SERVER_TAG_LABEL = 'knockspa/v1 server-id\u0000';
