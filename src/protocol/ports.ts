/**
 * Port specs: "22", "tcp/22", "udp/53" (docs/protocol.md §2.2, field "ports").
 * @module
 */
import { PROTO_TCP, PROTO_UDP } from './constants.js';

export type Proto = 'tcp' | 'udp';

export interface PortSpec {
  readonly proto: Proto;
  readonly port: number;
}

const PORT_SPEC = /^(?:(tcp|udp)\/)?([0-9]{1,5})$/;

/** Parses "22" (TCP), "tcp/22" or "udp/53"; null if malformed or the port is not 1..65535. */
export function parsePortSpec(text: string): PortSpec | null {
  const m = PORT_SPEC.exec(text.trim().toLowerCase());
  if (m === null) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535 || String(port) !== m[2]) return null;
  return { proto: (m[1] ?? 'tcp') as Proto, port };
}

export function formatPortSpec(spec: PortSpec): string {
  return `${spec.proto}/${spec.port}`;
}

export function protoNumber(proto: Proto): number {
  return proto === 'tcp' ? PROTO_TCP : PROTO_UDP;
}

export function protoFromNumber(n: number): Proto | null {
  if (n === PROTO_TCP) return 'tcp';
  if (n === PROTO_UDP) return 'udp';
  return null;
}

export function samePort(a: PortSpec, b: PortSpec): boolean {
  return a.proto === b.proto && a.port === b.port;
}
