/**
 * Exact conversions between IEEE float16 / bfloat16 bit patterns and float32.
 * float16 -> float32 and bfloat16 -> float32 are exact (every half value is a float32 value);
 * float32 -> float16 / bfloat16 round to nearest, ties to even, as PyTorch and numpy do.
 */

let halfTable: Float32Array | undefined;

/** float32 value of one float16 bit pattern (exact). */
export const halfBitsToFloat = (h: number): number => {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
};

/** A 65536-entry table: float32 value of every float16 bit pattern. Built once, on first use. */
const table = (): Float32Array => {
  if (halfTable === undefined) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfBitsToFloat(h);
  }
  return halfTable;
};

/** Decodes little-endian float16 bytes to float32 values (exact). */
export const f16BytesToF32 = (bytes: Uint8Array): Float32Array => {
  const n = bytes.length >>> 1;
  const out = new Float32Array(n);
  const tab = table();
  for (let i = 0; i < n; i++) out[i] = tab[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  return out;
};

/** Decodes little-endian bfloat16 bytes to float32 values (exact: the 16 high bits of a float32). */
export const bf16BytesToF32 = (bytes: Uint8Array): Float32Array => {
  const n = bytes.length >>> 1;
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = ((bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16) >>> 0;
  return new Float32Array(bits.buffer);
};

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float16 bit pattern nearest to a float32 value (round to nearest even; overflow to ±inf; NaN kept). */
export const floatToHalfBits = (x: number): number => {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0); // inf / NaN (quiet)
  const e = exp - 127 + 15; // rebiased exponent
  if (e >= 0x1f) return sign | 0x7c00; // overflow
  if (e <= 0) {
    // subnormal half (or zero): value = mant' * 2^-24
    if (e < -10) return sign; // rounds to zero (|x| < 2^-25)
    const m = mant | 0x800000; // implicit bit
    const shift = 14 - e; // 14..24
    const half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    const rounded = rem > mid || (rem === mid && (half & 1) === 1) ? half + 1 : half;
    return sign | rounded; // a carry into 0x400 yields the smallest normal, which is correct
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  const rounded = rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1) ? half + 1 : half;
  return sign | rounded; // a carry may overflow into the exponent, up to 0x7c00 = inf: correct
};

/** bfloat16 bit pattern nearest to a float32 value (round to nearest even; NaN kept quiet). */
export const floatToBf16Bits = (x: number): number => {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  const lsb = (b >>> 16) & 1;
  return ((b + 0x7fff + lsb) >>> 16) & 0xffff;
};

/** Encodes float32 values as little-endian float16 bytes. */
export const f32ToF16Bytes = (xs: ArrayLike<number>): Uint8Array => {
  const out = new Uint8Array(xs.length * 2);
  for (let i = 0; i < xs.length; i++) {
    const h = floatToHalfBits(xs[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
};

/** Encodes float32 values as little-endian bfloat16 bytes. */
export const f32ToBf16Bytes = (xs: ArrayLike<number>): Uint8Array => {
  const out = new Uint8Array(xs.length * 2);
  for (let i = 0; i < xs.length; i++) {
    const h = floatToBf16Bits(xs[i]!);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
};
