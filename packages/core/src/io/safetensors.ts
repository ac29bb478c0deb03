/**
 * The safetensors format (https://github.com/huggingface/safetensors), read and written as pure
 * byte functions: 8 bytes little-endian u64 `N`, then `N` bytes of UTF-8 JSON header
 * `{"__metadata__": {...}, "<name>": {"dtype", "shape", "data_offsets": [begin, end]}, ...}`,
 * then the data section. Validation follows the reference Rust crate (`Metadata::validate` and
 * `read_metadata`): header at most 100 MB and inside the file, valid UTF-8 JSON object, entries
 * sorted by offsets must tile the data section exactly from 0 (no gap, no overlap), each entry's
 * byte length must equal dtype size × product(shape), and the data section must end at the file's
 * end. A file that passes is never read out of bounds.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { bf16BytesToF32, f16BytesToF32, f32ToBf16Bytes, f32ToF16Bytes } from './half.ts';

/** Maximum header size accepted, as in the reference implementation (100 MB). */
export const MAX_HEADER_SIZE = 100_000_000;

/**
 * Element size in bytes of every byte-addressable dtype the reference crate defines, in its
 * declaration order (which is also its sort order when writing: larger alignment first).
 * The sub-byte formats F4, F6_E2M3 and F6_E3M2 are not supported.
 */
const DTYPE_SIZES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, F8_E4M3FNUZ: 1, F8_E5M2FNUZ: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, C64: 8, F64: 8, I64: 8, U64: 8,
} as const;

/** A safetensors element type. */
export const SafetensorsDtype = t.keyof(DTYPE_SIZES);
export type SafetensorsDtype = t.TypeOf<typeof SafetensorsDtype>;

/** Bytes per element of a dtype. */
export const dtypeSize = (d: SafetensorsDtype): number => DTYPE_SIZES[d];

const DTYPE_ORDER: readonly SafetensorsDtype[] = Object.keys(DTYPE_SIZES) as SafetensorsDtype[];
const dtypeRank = (d: SafetensorsDtype): number => DTYPE_ORDER.indexOf(d);

const NonNegativeInt = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, 'NonNegativeInt');

/** One header entry, as stored in the JSON header. */
export const TensorInfo = t.type({
  dtype: t.string,
  shape: t.array(NonNegativeInt),
  data_offsets: t.tuple([NonNegativeInt, NonNegativeInt]),
});
export type TensorInfo = t.TypeOf<typeof TensorInfo>;

/** A tensor inside a parsed file: a zero-copy view of its bytes plus dtype and shape. */
export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** The raw little-endian bytes, a view into the file's buffer (not a copy). */
  readonly bytes: Uint8Array;
}

/** A parsed safetensors file: tensors in file (offset) order and the `__metadata__` map. */
export interface SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  /** Size of the JSON header in bytes (without the 8-byte length field). */
  readonly headerSize: number;
}

const fmtShape = (s: readonly number[]): string => `[${s.join(',')}]`;

/** Number of elements of a shape (1 for a scalar). */
export const shapeSize = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const byteLength = (dtype: SafetensorsDtype, shape: readonly number[]): number | undefined => {
  let n = dtypeSize(dtype);
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return undefined;
  }
  return n;
};

const describeIoTsErrors = (errors: t.Errors): string =>
  errors
    .map((e) => {
      const path = e.context.map((c) => c.key).filter((k) => k !== '').join('.');
      return `${path === '' ? 'value' : path}: expected ${e.context[e.context.length - 1]?.type.name ?? '?'}, got ${JSON.stringify(e.value) ?? String(e.value)}`;
    })
    .slice(0, 3)
    .join('; ');

/** Parses and validates a whole safetensors file held in memory. Never throws. */
export const parseSafetensors = (bytes: Uint8Array): E.Either<string, SafetensorsFile> => {
  if (bytes.length < 8) return E.left(`safetensors: file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_SIZE))
    return E.left(`safetensors: header length ${n64} exceeds the ${MAX_HEADER_SIZE}-byte limit (corrupt length field?)`);
  const n = Number(n64);
  if (n + 8 > bytes.length)
    return E.left(`safetensors: header length ${n} runs past the end of the ${bytes.length}-byte file`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return E.left('safetensors: header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return E.left(`safetensors: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return E.left('safetensors: header JSON must be an object');

  let metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (typeof value !== 'object' || Array.isArray(value))
        return E.left('safetensors: __metadata__ must be an object of string values');
      for (const [k, v] of Object.entries(value as Record<string, unknown>))
        if (typeof v !== 'string') return E.left(`safetensors: __metadata__.${k} must be a string, got ${JSON.stringify(v)}`);
      metadata = value as Record<string, string>;
      continue;
    }
    const info = TensorInfo.decode(value);
    if (E.isLeft(info)) return E.left(`safetensors: tensor '${name}': invalid header entry (${describeIoTsErrors(info.left)})`);
    const { dtype, shape, data_offsets } = info.right;
    if (!SafetensorsDtype.is(dtype))
      return E.left(`safetensors: tensor '${name}': unknown or unsupported dtype '${dtype}' (supported: ${DTYPE_ORDER.join(', ')})`);
    entries.push({ name, dtype, shape, begin: data_offsets[0], end: data_offsets[1] });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);

  const data = bytes.subarray(8 + n);
  const tensors = new Map<string, SafetensorsTensor>();
  let start = 0;
  for (const e of entries) {
    if (e.begin !== start || e.end < e.begin) {
      const what = e.end < e.begin ? 'ends before it begins' : e.begin > start ? `leaves a gap: previous data ends at ${start}` : `overlaps previous data ending at ${start}`;
      return E.left(`safetensors: tensor '${e.name}': data_offsets [${e.begin},${e.end}] ${what}`);
    }
    const expected = byteLength(e.dtype, e.shape);
    if (expected === undefined) return E.left(`safetensors: tensor '${e.name}': shape ${fmtShape(e.shape)} is too large (overflow)`);
    if (e.end - e.begin !== expected)
      return E.left(`safetensors: tensor '${e.name}': dtype ${e.dtype} × shape ${fmtShape(e.shape)} needs ${expected} bytes but data_offsets [${e.begin},${e.end}] span ${e.end - e.begin}`);
    if (e.end > data.length)
      return E.left(`safetensors: tensor '${e.name}': data_offsets [${e.begin},${e.end}] run past the ${data.length}-byte data section (truncated file?)`);
    start = e.end;
    tensors.set(e.name, { name: e.name, dtype: e.dtype, shape: e.shape, bytes: data.subarray(e.begin, e.end) });
  }
  if (start !== data.length)
    return E.left(`safetensors: tensors cover ${start} bytes but the data section has ${data.length} (trailing bytes or truncated file)`);
  return E.right({ metadata, tensors, headerSize: n });
};

/**
 * An aligned private copy of some bytes. (`Uint8Array.prototype.slice` would do, but a Node
 * Buffer's `slice` returns a view into a shared pool, so it is not called through the instance.)
 */
const copyBytes = (b: Uint8Array): ArrayBuffer => {
  const c = new Uint8Array(b.length);
  c.set(b);
  return c.buffer;
};

/**
 * Float32 values of a tensor. F32, F16 and BF16 are exact; F64 rounds to the nearest float32;
 * integer and BOOL tensors convert by value (exact up to 2^24 in magnitude). Float8 and complex
 * dtypes give a Left.
 */
export const toFloat32 = (tensor: SafetensorsTensor): E.Either<string, Float32Array> => {
  const b = tensor.bytes;
  const copy = (): ArrayBuffer => copyBytes(b);
  switch (tensor.dtype) {
    case 'F32': return E.right(new Float32Array(copy()));
    case 'F16': return E.right(f16BytesToF32(b));
    case 'BF16': return E.right(bf16BytesToF32(b));
    case 'F64': return E.right(Float32Array.from(new Float64Array(copy())));
    case 'I32': return E.right(Float32Array.from(new Int32Array(copy())));
    case 'U32': return E.right(Float32Array.from(new Uint32Array(copy())));
    case 'I16': return E.right(Float32Array.from(new Int16Array(copy())));
    case 'U16': return E.right(Float32Array.from(new Uint16Array(copy())));
    case 'I8': return E.right(Float32Array.from(new Int8Array(copy())));
    case 'U8':
    case 'BOOL': return E.right(Float32Array.from(b));
    case 'I64': return E.right(Float32Array.from(new BigInt64Array(copy()), Number));
    case 'U64': return E.right(Float32Array.from(new BigUint64Array(copy()), Number));
    default: return E.left(`tensor '${tensor.name}': cannot convert dtype ${tensor.dtype} to float32`);
  }
};

/** Integer values of an integer tensor (I8..I64, U8..U32, BOOL) as numbers; a Left for floats or values beyond 2^53. */
export const toIntegers = (tensor: SafetensorsTensor): E.Either<string, number[]> => {
  const b = copyBytes(tensor.bytes);
  switch (tensor.dtype) {
    case 'I8': return E.right(Array.from(new Int8Array(b)));
    case 'U8': case 'BOOL': return E.right(Array.from(new Uint8Array(b)));
    case 'I16': return E.right(Array.from(new Int16Array(b)));
    case 'U16': return E.right(Array.from(new Uint16Array(b)));
    case 'I32': return E.right(Array.from(new Int32Array(b)));
    case 'U32': return E.right(Array.from(new Uint32Array(b)));
    case 'I64': case 'U64': {
      const xs = tensor.dtype === 'I64' ? Array.from(new BigInt64Array(b)) : Array.from(new BigUint64Array(b));
      const out = xs.map(Number);
      const bad = out.findIndex((x) => !Number.isSafeInteger(x));
      return bad >= 0 ? E.left(`tensor '${tensor.name}': element ${bad} (${xs[bad]}) exceeds 2^53`) : E.right(out);
    }
    default: return E.left(`tensor '${tensor.name}': dtype ${tensor.dtype} is not an integer type`);
  }
};

/** A tensor to write: float values converted to `dtype` (F32, F16 or BF16), or raw bytes of any dtype. */
export type TensorToWrite =
  | { readonly dtype: 'F32' | 'F16' | 'BF16'; readonly shape: readonly number[]; readonly data: ArrayLike<number> }
  | { readonly dtype: SafetensorsDtype; readonly shape: readonly number[]; readonly bytes: Uint8Array };

const encodeData = (name: string, x: TensorToWrite): Uint8Array => {
  const expected = byteLength(x.dtype, x.shape);
  let out: Uint8Array;
  if ('bytes' in x) out = x.bytes;
  else if (x.dtype === 'F32') {
    const f = x.data instanceof Float32Array ? x.data : Float32Array.from(x.data);
    out = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  } else out = x.dtype === 'F16' ? f32ToF16Bytes(x.data) : f32ToBf16Bytes(x.data);
  if (out.length !== expected)
    throw new RangeError(`serializeSafetensors: tensor '${name}': dtype ${x.dtype} × shape ${fmtShape(x.shape)} needs ${expected} bytes, got ${out.length}`);
  return out;
};

/** Orders strings by Unicode code point (= UTF-8 byte order, as Rust's `String` Ord). */
const compareCodePoints = (a: string, b: string): number => {
  const ai = a[Symbol.iterator]();
  const bi = b[Symbol.iterator]();
  for (;;) {
    const x = ai.next();
    const y = bi.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
};

const metadataJson = (m: Readonly<Record<string, string>>): string =>
  `{${Object.entries(m).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;

/**
 * Serializes tensors (and an optional `__metadata__` string map) exactly as the reference
 * implementation does: tensors sorted by dtype (larger alignment first) then name, laid out
 * contiguously; compact JSON header padded with spaces to a multiple of 8 bytes.
 * Throws RangeError when a tensor's data does not match its dtype × shape or a name is `__metadata__`
 * (caller bugs, not file errors).
 */
export const serializeSafetensors = (
  tensors: Readonly<Record<string, TensorToWrite>> | ReadonlyMap<string, TensorToWrite>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array => {
  const list = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))] as [string, TensorToWrite][];
  list.sort(([na, a], [nb, b]) => dtypeRank(b.dtype) - dtypeRank(a.dtype) || compareCodePoints(na, nb));
  // The header is assembled by hand: a JS object would move integer-like names to the front
  // and treat '__proto__' specially, and the byte layout must match the reference exactly.
  const parts: string[] = metadata === undefined ? [] : [`"__metadata__":${metadataJson(metadata)}`];
  const datas: Uint8Array[] = [];
  let offset = 0;
  for (const [name, x] of list) {
    if (name === '__metadata__') throw new RangeError("serializeSafetensors: '__metadata__' is reserved and cannot name a tensor");
    const d = encodeData(name, x);
    parts.push(`${JSON.stringify(name)}:{"dtype":"${x.dtype}","shape":[${x.shape.join(',')}],"data_offsets":[${offset},${offset + d.length}]}`);
    offset += d.length;
    datas.push(d);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  if (n > MAX_HEADER_SIZE) throw new RangeError(`serializeSafetensors: header of ${n} bytes exceeds the ${MAX_HEADER_SIZE}-byte limit`);
  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let p = 8 + n;
  for (const d of datas) {
    out.set(d, p);
    p += d.length;
  }
  return out;
};
