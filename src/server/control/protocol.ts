/**
 * The control channel's protocol: one JSON object per line each way, a request and its answer.
 * Requests are input like packets: bounded in size, every field checked, anything unexpected
 * refused (fail closed). Pure: no I/O.
 *
 *   {"op":"status"}                                   -> {"ok":true,"status":{...}}
 *   {"op":"grants"}                                   -> {"ok":true,"grants":[...]}
 *   {"op":"close","user":"alice","ip":"...","port":22,"proto":"tcp"}
 *                                                     -> {"ok":true,"closed":[...]}
 *   anything else                                     -> {"ok":false,"error":"..."}
 * @module
 */
import { canonicalIp } from '../../protocol/address.js';
import type { Proto } from '../../protocol/ports.js';
import { USER_NAME } from '../../protocol/keys.js';

/** Longest request line (bytes, newline excluded); a longer one is refused and the connection closed. */
export const MAX_REQUEST_BYTES = 4096;
/** A connection that sends no complete request within this is closed. */
export const REQUEST_TIMEOUT_MS = 5_000;
export const CONTROL_SOCKET_NAME = 'control.sock';

/** Which grants an admin close takes: every given field must match; at least one is given. */
export interface GrantFilter {
  readonly user?: string;
  readonly ip?: string;
  readonly port?: number;
  readonly proto?: Proto;
}

export type ControlRequest = { readonly op: 'status' } | { readonly op: 'grants' } | ({ readonly op: 'close' } & GrantFilter);

export interface GrantRow {
  readonly user: string;
  readonly ip: string;
  readonly proto: string;
  readonly port: number;
  readonly deadlineMs: number;
}

export interface DaemonStatus {
  readonly pid: number;
  readonly startedMs: number;
  readonly listener: string;
  /** When the listener last delivered a datagram (any, valid or not); null if none since start. */
  readonly lastPacketMs: number | null;
  /** Set while the listener cannot receive (a lost capture being reopened). */
  readonly listenerError: { readonly reason: string; readonly sinceMs: number } | null;
  readonly grants: number;
}

export type ControlResponse =
  | { readonly ok: true; readonly status: DaemonStatus }
  | { readonly ok: true; readonly grants: readonly GrantRow[] }
  | { readonly ok: true; readonly closed: readonly GrantRow[] }
  | { readonly ok: false; readonly error: string };

const USER = USER_NAME;
const KEYS: Readonly<Record<string, readonly string[]>> = {
  status: ['op'],
  grants: ['op'],
  close: ['op', 'user', 'ip', 'port', 'proto'],
};

/** A request line, checked; a string says what is wrong with it. */
export function parseRequest(line: string): ControlRequest | string {
  if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return `request longer than ${MAX_REQUEST_BYTES} bytes`;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const req = value as Record<string, unknown>;
  const op = req['op'];
  if (typeof op !== 'string' || !Object.hasOwn(KEYS, op)) return `unknown op; expected one of ${Object.keys(KEYS).join(', ')}`;
  const allowed = KEYS[op] as readonly string[];
  const extra = Object.keys(req).find((k) => !allowed.includes(k));
  if (extra !== undefined) return `unknown field ${JSON.stringify(extra)} for op ${op}`;
  if (op !== 'close') return { op } as ControlRequest;
  const filter: { user?: string; ip?: string; port?: number; proto?: Proto } = {};
  const { user, ip, port, proto } = req;
  if (user !== undefined) {
    if (typeof user !== 'string' || !USER.test(user)) return 'user: expected a user name';
    filter.user = user;
  }
  if (ip !== undefined) {
    const canonical = typeof ip === 'string' ? canonicalIp(ip) : null;
    if (canonical === null) return 'ip: expected an IPv4 or IPv6 address';
    filter.ip = canonical;
  }
  if (port !== undefined) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return 'port: expected an integer from 1 to 65535';
    filter.port = port;
  }
  if (proto !== undefined) {
    if (proto !== 'tcp' && proto !== 'udp') return 'proto: expected "tcp" or "udp"';
    filter.proto = proto;
  }
  if (Object.keys(filter).length === 0) return 'close: name at least one of user, ip, port';
  if (filter.proto !== undefined && filter.port === undefined) return 'close: proto needs a port';
  return { op: 'close', ...filter };
}

/** Whether a grant is one the filter names. */
export function matches(filter: GrantFilter, g: GrantRow): boolean {
  return (
    (filter.user === undefined || g.user === filter.user) &&
    (filter.ip === undefined || g.ip === filter.ip) &&
    (filter.port === undefined || g.port === filter.port) &&
    (filter.proto === undefined || g.proto === filter.proto)
  );
}

export function encode(message: ControlRequest | ControlResponse): string {
  return `${JSON.stringify(message)}\n`;
}

/** An answer line, as the client reads it; throws on anything that is not one. */
export function parseResponse(line: string): ControlResponse {
  const value: unknown = JSON.parse(line);
  if (typeof value !== 'object' || value === null || typeof (value as { ok?: unknown }).ok !== 'boolean')
    throw new Error('the daemon sent something that is not an answer');
  return value as ControlResponse;
}
