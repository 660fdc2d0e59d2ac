/**
 * Sends one UDP datagram from an ephemeral port and closes the socket.
 *
 * On Node 20 it goes through the UDP handle dgram is built on (`process.binding('udp_wrap')`),
 * not through dgram: dgram's first send binds, and binding loads cluster, which loads
 * child_process, net and the streams, ~6 ms of a ~75 ms `knockspa open` (measured taking turns)
 * for a socket that lives for one packet. The handle is Node's internal API: it is used only on the
 * Node major whose handle these calls match (a mismatch would abort in a C++ check, not throw).
 * dgram sends on other Nodes, where process.binding refuses (the permission model) or would warn
 * (--pending-deprecation), and for a port it would refuse. Both paths are tested to put the same
 * bytes on the wire and to fail alike (test/unit/client/udp-send.test.ts).
 * @module
 */
import { getSystemErrorName } from 'node:util';

/** The Node major whose udp_wrap handle `sendThroughHandle` speaks to (lib/dgram.js of Node 20). */
const HANDLE_NODE_MAJOR = '20';

interface UdpHandle {
  bind(address: string, port: number, flags: number): number;
  bind6(address: string, port: number, flags: number): number;
  /** Returns < 0 for an error, msg_length + 1 when sent at once, 0 when `req.oncomplete` will say. */
  send(req: SendRequest, list: Uint8Array[], count: number, port: number, address: string, hasCallback: boolean): number;
  send6(req: SendRequest, list: Uint8Array[], count: number, port: number, address: string, hasCallback: boolean): number;
  close(): void;
}

interface SendRequest {
  /** Keeps the buffers alive while the kernel may still read them. */
  list?: Uint8Array[];
  oncomplete?: (status: number) => void;
}

interface UdpWrapBinding {
  readonly UDP: new () => UdpHandle;
  readonly SendWrap: new () => SendRequest;
}

/** process.binding: in Node, not in @types/node. */
type BindingLoader = ((name: string) => Partial<UdpWrapBinding>) | undefined;

/** Node 20's udp_wrap binding, or null where it is not to be used. */
function udpWrap(): UdpWrapBinding | null {
  if (process.versions.node.split('.')[0] !== HANDLE_NODE_MAJOR) return null;
  const load = (process as unknown as { binding: BindingLoader }).binding;
  // With --pending-deprecation process.binding is wrapped (its name is then "deprecated"): it would
  // print a warning, and under --throw-deprecation throw one later, outside any try.
  if (typeof load !== 'function' || load.name !== 'binding') return null;
  try {
    const binding = load.call(process, 'udp_wrap');
    return typeof binding.UDP === 'function' && typeof binding.SendWrap === 'function' ? (binding as UdpWrapBinding) : null;
  } catch {
    return null; // the permission model and policies refuse process.binding
  }
}

/** The error dgram gives for `syscall` failing with `status` (a negative errno): port 0 is left out. */
export function socketError(status: number, syscall: string, address: string, port: number): Error {
  const code = getSystemErrorName(status);
  const where = port > 0 ? `${address}:${port}` : address;
  return Object.assign(new Error(`${syscall} ${code} ${where}`), { errno: status, code, syscall, address, ...(port > 0 ? { port } : {}) });
}

/** Sends through the UDP handle; null (nothing sent) where that is not to be used. */
export function sendThroughHandle(packet: Uint8Array, address: string, family: 4 | 6, port: number): Promise<void> | null {
  // The handle takes any uint32 as the port (70000 would go to 4464) and aborts on a non-integer:
  // dgram checks ports and says what is wrong.
  if (!Number.isInteger(port) || port < 1 || port > 65_535) return null;
  const binding = udpWrap();
  if (binding === null) return null;
  const handle = new binding.UDP();
  const bound = family === 6 ? handle.bind6('::', 0, 0) : handle.bind('0.0.0.0', 0, 0);
  if (bound < 0) {
    handle.close();
    return Promise.reject(socketError(bound, 'bind', family === 6 ? '::' : '0.0.0.0', 0));
  }
  const list = [packet];
  const req = new binding.SendWrap();
  req.list = list;
  return new Promise((resolvePromise, reject) => {
    const finish = (status: number): void => {
      handle.close();
      if (status < 0) reject(socketError(status, 'send', address, port));
      else resolvePromise();
    };
    req.oncomplete = finish;
    const sent = family === 6 ? handle.send6(req, list, list.length, port, address, true) : handle.send(req, list, list.length, port, address, true);
    if (sent !== 0) finish(sent);
  });
}

/**
 * dgram's address lookup for an address that is already an IP: with its default, dgram loads
 * node's resolver (the dns module, a c-ares channel) only to pass the address through.
 */
function ipLookup(family: 4 | 6): (address: string, options: unknown, callback: (err: null, address: string, family: number) => void) => void {
  return (address, _options, callback) => process.nextTick(callback, null, address, family);
}

/** Sends through dgram, loaded only now (see the module comment). */
export function sendThroughDgram(packet: Uint8Array, address: string, family: 4 | 6, port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const socket = process.getBuiltinModule('node:dgram').createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: ipLookup(family) });
    const fail = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', fail);
    try {
      socket.send(packet, port, address, (err) => {
        if (err) return fail(err);
        socket.close();
        resolvePromise();
      });
    } catch (err) {
      fail(err as Error); // a bad port: dgram throws at once
    }
  });
}

/** Sends one datagram to `address` (an IP address of `family`, not a name). */
export function sendDatagram(packet: Uint8Array, address: string, family: 4 | 6, port: number): Promise<void> {
  return sendThroughHandle(packet, address, family, port) ?? sendThroughDgram(packet, address, family, port);
}
