import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { floatToBf16Bits, floatToHalfBits, halfBitsToFloat } from '../../src/io/half.ts';

test('float16 decoding of known bit patterns', () => {
  // values from the IEEE 754 binary16 definition
  assert.equal(halfBitsToFloat(0x3c00), 1);
  assert.equal(halfBitsToFloat(0xc000), -2);
  assert.equal(halfBitsToFloat(0x7bff), 65504); // largest normal
  assert.equal(halfBitsToFloat(0x0400), 2 ** -14); // smallest normal
  assert.equal(halfBitsToFloat(0x0001), 2 ** -24); // smallest subnormal
  assert.equal(halfBitsToFloat(0x3555), 0.333251953125);
  assert.equal(halfBitsToFloat(0x7c00), Infinity);
  assert.equal(halfBitsToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfBitsToFloat(0x7e00)));
  assert.ok(Object.is(halfBitsToFloat(0x8000), -0));
});

test('float16: encode(decode(h)) = h for every non-NaN bit pattern', () => {
  for (let h = 0; h < 65536; h++) {
    const x = halfBitsToFloat(h);
    if (Number.isNaN(x)) continue;
    assert.equal(floatToHalfBits(x), h, `pattern ${h.toString(16)}`);
  }
});

test('float16 encoding rounds to nearest, ties to even', () => {
  // 1 + 2^-11 lies exactly between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01): ties to even
  assert.equal(floatToHalfBits(1 + 2 ** -11), 0x3c00);
  // 1 + 3*2^-11 lies between 0x3c01 (odd) and 0x3c02 (even)
  assert.equal(floatToHalfBits(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(floatToHalfBits(65520), 0x7c00); // halfway to the next binade rounds up to inf
  assert.equal(floatToHalfBits(65519), 0x7bff);
  assert.equal(floatToHalfBits(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal
  assert.equal(floatToHalfBits(3 * 2 ** -25), 0x0002); // tie between 1 and 2 subnormal units
  assert.equal(floatToHalfBits(-1e-10), 0x8000);
});

test('float16 encoding picks the nearest representable value (property)', () => {
  fc.assert(
    fc.property(fc.float({ noNaN: true, min: -65504, max: 65504 }), (x) => {
      const h = floatToHalfBits(x);
      const y = halfBitsToFloat(h);
      // neighbours of h in value order
      const err = Math.abs(y - x);
      for (const nb of [h + 1, h - 1, h ^ 0x8000]) {
        if (nb < 0 || nb > 0xffff) continue;
        const z = halfBitsToFloat(nb);
        if (Number.isFinite(z)) assert.ok(Math.abs(z - x) >= err, `${x}: ${y} vs neighbour ${z}`);
      }
    }),
  );
});

test('bfloat16: the high half of a float32, rounded to nearest even', () => {
  assert.equal(floatToBf16Bits(1), 0x3f80);
  assert.equal(floatToBf16Bits(-2), 0xc000);
  assert.equal(floatToBf16Bits(1 + 2 ** -8), 0x3f80); // tie, even stays
  assert.equal(floatToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // tie, odd rounds up
  assert.equal(floatToBf16Bits(1 + 2 ** -8 + 2 ** -20), 0x3f81);
  assert.equal(floatToBf16Bits(Infinity), 0x7f80);
  assert.ok((floatToBf16Bits(NaN) & 0x7fc0) === 0x7fc0);
});
