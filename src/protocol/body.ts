/**
 * The encrypted body (docs/protocol.md §2.2): fixed 80 bytes, every field at a fixed offset,
 * unused slots and padding zero. Decoding is strict: anything a correct encoder would not
 * produce is a rejection.
 * @module
 */
import { formatIpv4, formatIpv6, isV4Mapped, parseIp } from './address.js';
import {
  ACTION_CLOSE,
  ACTION_OPEN,
  BODY_OFF_ACTION,
  BODY_OFF_ADDRESS,
  BODY_OFF_DURATION,
  BODY_OFF_FAMILY,
  BODY_OFF_PADDING,
  BODY_OFF_PORT_COUNT,
  BODY_OFF_PORTS,
  BODY_OFF_SERVER,
  BODY_OFF_TIMESTAMP,
  BODY_SIZE,
  FAMILY_IPV4,
  FAMILY_IPV6,
  FAMILY_SOURCE,
  MAX_PORTS,
  PORT_SLOT_SIZE,
  SERVER_TAG_SIZE,
} from './constants.js';
import { protoFromNumber, protoNumber, type PortSpec } from './ports.js';
import type { RejectReason } from './reasons.js';

export type Action = 'open' | 'close';

/** Longest grant a packet may ask for; the server caps it further per user. */
export const MAX_DURATION_SEC = 86_400;
const U32 = 0x1_0000_0000;
/** Largest high word of a u64 timestamp that is still a safe integer: 0x1fffff * 2^32 + 0xffffffff = 2^53 - 1. */
const MAX_SAFE_HIGH = 0x1f_ffff;

export interface KnockFields {
  readonly timestampMs: number;
  readonly action: Action;
  /** One to eight distinct ports. */
  readonly ports: readonly PortSpec[];
  /** The address to open for; null means the packet's source address. */
  readonly allowIp: string | null;
  /** Seconds; 0 asks for the server's default. Always 0 in a close knock. */
  readonly durationSec: number;
}

function isAllZero(bytes: Uint8Array, from: number, to: number): boolean {
  let acc = 0;
  for (let i = from; i < to; i++) acc |= bytes[i] as number;
  return acc === 0;
}

/** Writes the body into out[0..BODY_SIZE). Throws on fields no valid packet may carry. */
export function encodeBody(fields: KnockFields, serverTagBytes: Uint8Array, out: Uint8Array): void {
  if (out.length !== BODY_SIZE) throw new Error(`body: expected ${BODY_SIZE} bytes of output`);
  if (serverTagBytes.length !== SERVER_TAG_SIZE) throw new Error(`server tag: expected ${SERVER_TAG_SIZE} bytes`);
  const { timestampMs, action, ports, allowIp, durationSec } = fields;
  if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new Error(`timestamp: expected ms since the epoch, got ${timestampMs}`);
  if (ports.length < 1 || ports.length > MAX_PORTS) throw new Error(`ports: expected 1 to ${MAX_PORTS}, got ${ports.length}`);
  if (!Number.isInteger(durationSec) || durationSec < 0 || durationSec > MAX_DURATION_SEC)
    throw new Error(`duration: expected 0..${MAX_DURATION_SEC} seconds, got ${durationSec}`);
  if (action === 'close' && durationSec !== 0) throw new Error('duration: a close knock carries none');
  out.fill(0);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(BODY_OFF_TIMESTAMP, Math.floor(timestampMs / U32));
  view.setUint32(BODY_OFF_TIMESTAMP + 4, timestampMs % U32);
  out[BODY_OFF_ACTION] = action === 'open' ? ACTION_OPEN : ACTION_CLOSE;
  out[BODY_OFF_PORT_COUNT] = ports.length;
  view.setUint32(BODY_OFF_DURATION, durationSec);
  if (allowIp === null) {
    out[BODY_OFF_FAMILY] = FAMILY_SOURCE;
  } else {
    const ip = parseIp(allowIp);
    if (ip === null) throw new Error(`allow ip: expected an IPv4 or IPv6 address, got ${JSON.stringify(allowIp)}`);
    const mapped = ip.family === 6 && isV4Mapped(ip.bytes);
    const bytes = mapped ? ip.bytes.subarray(12) : ip.bytes;
    if (isAllZero(bytes, 0, bytes.length)) throw new Error('allow ip: the unspecified address would open for everyone');
    out[BODY_OFF_FAMILY] = ip.family === 4 || mapped ? FAMILY_IPV4 : FAMILY_IPV6;
    out.set(bytes, BODY_OFF_ADDRESS);
  }
  out.set(serverTagBytes, BODY_OFF_SERVER);
  const seen = new Set<string>();
  ports.forEach((spec, i) => {
    if (!Number.isInteger(spec.port) || spec.port < 1 || spec.port > 65535) throw new Error(`port: expected 1..65535, got ${spec.port}`);
    const key = `${spec.proto}/${spec.port}`;
    if (seen.has(key)) throw new Error(`ports: ${key} given twice`);
    seen.add(key);
    const at = BODY_OFF_PORTS + i * PORT_SLOT_SIZE;
    out[at] = protoNumber(spec.proto);
    view.setUint16(at + 1, spec.port);
  });
}

// eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- the reject reason is named for the reader
function decodeAddress(body: Uint8Array): string | null | RejectReason {
  const family = body[BODY_OFF_FAMILY];
  const end = BODY_OFF_ADDRESS + 16;
  if (family === FAMILY_SOURCE) return isAllZero(body, BODY_OFF_ADDRESS, end) ? null : 'bad-address';
  if (family === FAMILY_IPV4) {
    if (!isAllZero(body, BODY_OFF_ADDRESS + 4, end) || isAllZero(body, BODY_OFF_ADDRESS, BODY_OFF_ADDRESS + 4)) return 'bad-address';
    return formatIpv4(body, BODY_OFF_ADDRESS);
  }
  if (family === FAMILY_IPV6) {
    const bytes = body.subarray(BODY_OFF_ADDRESS, end);
    if (isV4Mapped(bytes) || isAllZero(bytes, 0, 16)) return 'bad-address';
    return formatIpv6(bytes);
  }
  return 'bad-address';
}

function decodePorts(body: Uint8Array, view: DataView): PortSpec[] | RejectReason {
  const count = body[BODY_OFF_PORT_COUNT] as number;
  if (count < 1 || count > MAX_PORTS) return 'bad-ports';
  const ports: PortSpec[] = [];
  for (let i = 0; i < count; i++) {
    const at = BODY_OFF_PORTS + i * PORT_SLOT_SIZE;
    const proto = protoFromNumber(body[at] as number);
    const port = view.getUint16(at + 1);
    if (proto === null || port === 0) return 'bad-ports';
    if (ports.some((p) => p.proto === proto && p.port === port)) return 'bad-ports';
    ports.push({ proto, port });
  }
  if (!isAllZero(body, BODY_OFF_PORTS + count * PORT_SLOT_SIZE, BODY_OFF_PADDING)) return 'bad-ports';
  return ports;
}

/** Reads a decrypted body. The server tag is left in place for the caller to compare. */
export function decodeBody(body: Uint8Array): KnockFields | RejectReason {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const actionCode = body[BODY_OFF_ACTION];
  if (actionCode !== ACTION_OPEN && actionCode !== ACTION_CLOSE) return 'bad-action';
  const action: Action = actionCode === ACTION_OPEN ? 'open' : 'close';
  const ports = decodePorts(body, view);
  if (typeof ports === 'string') return ports;
  const allowIp = decodeAddress(body);
  if (allowIp === 'bad-address') return allowIp;
  const durationSec = view.getUint32(BODY_OFF_DURATION);
  if (durationSec > MAX_DURATION_SEC || (action === 'close' && durationSec !== 0)) return 'bad-duration';
  if (!isAllZero(body, BODY_OFF_PADDING, BODY_SIZE)) return 'bad-padding';
  // Above 2^53 - 1 a number cannot hold the timestamp exactly (nor can encodeBody write it back): no
  // encoder produces one, and any clock would call it the future, so refuse it as such.
  const timestampHigh = view.getUint32(BODY_OFF_TIMESTAMP);
  if (timestampHigh > MAX_SAFE_HIGH) return 'future';
  const timestampMs = timestampHigh * U32 + view.getUint32(BODY_OFF_TIMESTAMP + 4);
  return { timestampMs, action, ports, allowIp, durationSec };
}
