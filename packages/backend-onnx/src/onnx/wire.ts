/**
 * A minimal protocol-buffers writer: just the wire types ONNX needs (varint, 32-bit,
 * length-delimited). Messages are built as lists of byte chunks and concatenated once at the
 * end, so multi-hundred-megabyte tensors (`raw_data`) are copied exactly once.
 */

const enum Wire {
  Varint = 0,
  Len = 2,
  Fixed32 = 5,
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Encodes an unsigned or signed 64-bit integer as a varint (negatives as 10-byte two's complement). */
export const varintBytes = (value: number | bigint): Uint8Array => {
  let v = typeof value === 'bigint' ? value : BigInt(value);
  if (typeof value === 'number' && !Number.isInteger(value)) throw new Error(`varint: ${value} is not an integer`);
  if (v < 0n) v = BigInt.asUintN(64, v);
  if (v > 0xffffffffffffffffn) throw new Error(`varint: ${value} does not fit in 64 bits`);
  const out: number[] = [];
  // fast path for small non-negative numbers
  if (v <= MAX_SAFE) {
    let n = Number(v);
    while (n >= 0x80) {
      out.push((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    out.push(n);
    return Uint8Array.from(out);
  }
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
};

const utf8 = new TextEncoder();

/** Accumulates one message's fields; nested messages are spliced in without copying. */
export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];
  private size = 0;

  /** Encoded size in bytes so far. */
  get byteLength(): number {
    return this.size;
  }

  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.byteLength;
  }

  private tag(field: number, wire: Wire): void {
    this.push(varintBytes(field * 8 + wire));
  }

  /** An int32/int64/enum/bool field (varint). */
  int(field: number, value: number | bigint | boolean): this {
    this.tag(field, Wire.Varint);
    this.push(varintBytes(typeof value === 'boolean' ? (value ? 1 : 0) : value));
    return this;
  }

  /** A `float` field (fixed 32-bit, little-endian). */
  float(field: number, value: number): this {
    this.tag(field, Wire.Fixed32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  /** A `bytes` field; the bytes are referenced, not copied, until `finish`. */
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, Wire.Len);
    this.push(varintBytes(data.byteLength));
    this.push(data);
    return this;
  }

  /** A `string` field (UTF-8). */
  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /** An embedded message field. */
  message(field: number, m: ProtoWriter): this {
    this.tag(field, Wire.Len);
    this.push(varintBytes(m.size));
    for (const p of m.parts) this.push(p);
    return this;
  }

  /** A repeated varint field, unpacked (onnx.proto is proto2: its repeated scalars are not packed). */
  repeatedInts(field: number, values: readonly (number | bigint)[]): this {
    for (const v of values) this.int(field, v);
    return this;
  }

  /** A repeated float field, unpacked. */
  repeatedFloats(field: number, values: readonly number[]): this {
    for (const v of values) this.float(field, v);
    return this;
  }

  /** The encoded message as one contiguous buffer. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.byteLength;
    }
    return out;
  }
}
