/**
 * The SSH wire encoding (RFC 4251 §5): uint32, string, mpint. Reading never throws: a value that
 * does not fit is undefined, so a malformed key or signature is a rejection, not an exception.
 * @module
 */

export class SshReader {
  private pos = 0;
  constructor(private readonly bytes: Uint8Array) {}

  u8(): number | undefined {
    if (this.pos + 1 > this.bytes.length) return undefined;
    return this.bytes[this.pos++];
  }

  u32(): number | undefined {
    if (this.pos + 4 > this.bytes.length) return undefined;
    const b = this.bytes;
    const p = this.pos;
    this.pos += 4;
    return (((b[p] as number) << 24) | ((b[p + 1] as number) << 16) | ((b[p + 2] as number) << 8) | (b[p + 3] as number)) >>> 0;
  }

  string(): Uint8Array | undefined {
    const length = this.u32();
    if (length === undefined || this.pos + length > this.bytes.length) return undefined;
    const value = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return value;
  }

  /** A string that must be printable ASCII (a key type, a curve name). */
  text(): string | undefined {
    const value = this.string();
    if (value === undefined || value.length > 256) return undefined;
    for (const b of value) if (b < 0x20 || b > 0x7e) return undefined;
    return String.fromCharCode(...value);
  }

  /** A non-negative mpint, its magnitude without leading zeros (undefined if negative or not minimal). */
  unsignedMpint(): Uint8Array | undefined {
    const value = this.string();
    if (value === undefined) return undefined;
    if (value.length === 0) return value;
    if (((value[0] as number) & 0x80) !== 0) return undefined;
    if (value[0] === 0) {
      // A leading zero only to clear the sign bit of the next byte.
      if (value.length === 1 || ((value[1] as number) & 0x80) === 0) return undefined;
      return value.subarray(1);
    }
    return value;
  }

  get done(): boolean {
    return this.pos === this.bytes.length;
  }
}

export class SshWriter {
  private readonly parts: Uint8Array[] = [];
  private length = 0;

  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.length += bytes.length;
    return this;
  }

  u8(value: number): this {
    return this.raw(Uint8Array.of(value & 0xff));
  }

  u32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0);
    return this.raw(b);
  }

  string(value: Uint8Array | string): this {
    const bytes = typeof value === 'string' ? new TextEncoder().encode(value) : value;
    return this.u32(bytes.length).raw(bytes);
  }

  /** A non-negative mpint from its big-endian magnitude. */
  mpint(magnitude: Uint8Array): this {
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start++;
    const m = magnitude.subarray(start);
    if (m.length > 0 && ((m[0] as number) & 0x80) !== 0)
      return this.u32(m.length + 1)
        .u8(0)
        .raw(m);
    return this.string(m);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

/** `magnitude` left-padded with zeros to `size` bytes, or undefined if it does not fit. */
export function fixedWidth(magnitude: Uint8Array, size: number): Uint8Array | undefined {
  let start = 0;
  while (start < magnitude.length && magnitude[start] === 0) start++;
  const m = magnitude.subarray(start);
  if (m.length > size) return undefined;
  const out = new Uint8Array(size);
  out.set(m, size - m.length);
  return out;
}
