import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  parseSafetensors, serializeSafetensors, toFloat32, toIntegers, dtypeSize, SafetensorsDtype,
  type TensorToWrite, type SafetensorsFile,
} from '../../src/io/safetensors.ts';
import { f32ToF16Bytes } from '../../src/io/half.ts';
import { fixtures, shared } from './paths.ts';

const ok = (e: E.Either<string, SafetensorsFile>): SafetensorsFile => {
  if (E.isLeft(e)) assert.fail(e.left);
  return e.right;
};
const header = (json: string, data: Uint8Array = new Uint8Array()): Uint8Array => {
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
};
const leftMatching = (e: E.Either<string, unknown>, re: RegExp): void => {
  assert.ok(E.isLeft(e), 'expected a Left');
  assert.match(e.left, re);
};

test('reference file written by the Rust crate: values as numpy reads them, bytes reproduced', () => {
  const bytes = new Uint8Array(readFileSync(join(fixtures, 'safetensors/reference.safetensors')));
  const expected = JSON.parse(readFileSync(join(fixtures, 'safetensors/reference.json'), 'utf8')) as Record<string, { shape: number[]; values: (number | boolean)[] }>;
  const f = ok(parseSafetensors(bytes));
  assert.deepEqual(f.metadata, expected['__metadata__']);
  const names = Object.keys(expected).filter((k) => !k.startsWith('__'));
  assert.deepEqual([...f.tensors.keys()].sort(), names.sort());
  for (const name of names) {
    const t = f.tensors.get(name)!;
    const want = expected[name]!;
    assert.deepEqual(t.shape, want.shape, name);
    if (t.dtype === 'I64' || t.dtype === 'I32' || t.dtype === 'U8' || t.dtype === 'BOOL') {
      const ints = toIntegers(t);
      assert.ok(E.isRight(ints));
      assert.deepEqual(ints.right, want.values.map(Number), name);
    } else {
      const xs = toFloat32(t);
      assert.ok(E.isRight(xs));
      // float16 / bfloat16 decoding is exact; float64 rounds to float32
      const exp = want.values.map((v) => Math.fround(v as number));
      assert.deepEqual(Array.from(xs.right), exp, name);
    }
  }
  // write the same tensors back from raw bytes: the reference bytes must be reproduced exactly
  const again = serializeSafetensors(
    new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, bytes: t.bytes }] as const)),
    f.metadata,
  );
  assert.deepEqual(again, bytes);
  // and the half tensors written from float32 values give the same bytes too
  const half = f.tensors.get('h.0.half')!;
  const hv = toFloat32(half);
  assert.ok(E.isRight(hv));
  assert.deepEqual(f32ToF16Bytes(hv.right), half.bytes);
});

test('float32 -> float16 encoding equals numpy astype(float16)', () => {
  const expected = JSON.parse(readFileSync(join(fixtures, 'safetensors/reference.json'), 'utf8'));
  const src = Float32Array.from(expected['model.embed.weight'].values as number[]);
  const bytes = f32ToF16Bytes(src);
  const bits = Array.from({ length: src.length }, (_, i) => bytes[2 * i]! | (bytes[2 * i + 1]! << 8));
  assert.deepEqual(bits, expected['__float32_of_f32_as_f16_bits__']);
});

const gpt2Random = join(shared, 'models/hf-random-gpt2-lmbuddy/model.safetensors');
test('a checkpoint written by transformers 4.36 parses and is rewritten byte for byte', { skip: !existsSync(gpt2Random) && 'shared models missing' }, () => {
  const bytes = new Uint8Array(readFileSync(gpt2Random));
  const f = ok(parseSafetensors(bytes));
  assert.deepEqual(f.metadata, { format: 'pt' });
  const wte = f.tensors.get('transformer.wte.weight');
  assert.ok(wte);
  assert.deepEqual(wte.shape, [50257, 2]);
  assert.deepEqual(f.tensors.get('transformer.h.0.attn.c_attn.weight')?.shape, [2, 6]);
  const again = serializeSafetensors(new Map([...f.tensors].map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape, bytes: t.bytes }] as const)), f.metadata);
  assert.deepEqual(again, bytes);
});

test('serialization layout matches the reference: header padded with spaces to 8 bytes', () => {
  // the reference crate's own documented example: one F32 tensor "attn.0" of shape [1,2,3]
  const out = serializeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: [0, 1, 2, 3, 4, 5] } });
  const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.equal(json.length, 64);
  assert.equal(new DataView(out.buffer).getBigUint64(0, true), 64n);
  assert.equal(new TextDecoder().decode(out.subarray(8, 72)), json);
  assert.equal(out.length, 8 + 64 + 24);
  const unaligned = serializeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: [0, 1, 2, 3, 4, 5] } });
  const n = Number(new DataView(unaligned.buffer).getBigUint64(0, true));
  assert.equal(n % 8, 0);
  assert.match(new TextDecoder().decode(unaligned.subarray(8, 8 + n)), /\}\} +$/);
  // empty file, with and without metadata
  assert.deepEqual(Array.from(serializeSafetensors({})), [8, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode('{}      ')]);
  const m = serializeSafetensors({}, { framework: 'pt' });
  assert.equal(new TextDecoder().decode(m.subarray(8)), '{"__metadata__":{"framework":"pt"}}     ');
});

test('integer-like and special tensor names keep the reference order', () => {
  const out = serializeSafetensors({ b: { dtype: 'F32', shape: [1], data: [1] }, '10': { dtype: 'F32', shape: [1], data: [2] }, '2': { dtype: 'F16', shape: [1], data: [3] }, __proto__x: { dtype: 'F32', shape: [], data: [4] } });
  const f = ok(parseSafetensors(out));
  // F32 first (larger alignment), then names by code point: "10" < "__proto__x" < "b"; then F16
  assert.deepEqual([...f.tensors.keys()], ['10', '__proto__x', 'b', '2']);
});

// ---------- round trip for random tensors of every dtype ----------

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });
const nameArb = fc.string({ minLength: 1, maxLength: 12 }).filter((s) => s !== '__metadata__');
const rawTensorArb = fc
  .tuple(fc.constantFrom(...(Object.keys(SafetensorsDtype.keys) as SafetensorsDtype[])), shapeArb)
  .chain(([dtype, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype);
    return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes) => ({ dtype, shape, bytes }));
  });
const filesArb = fc.tuple(
  fc.dictionary(nameArb, rawTensorArb, { maxKeys: 6 }),
  fc.option(fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }), { nil: undefined }),
);

test('round trip: parse(serialize(ts)) gives back every tensor of every dtype, bytes and shapes', () => {
  fc.assert(
    fc.property(filesArb, ([ts, meta]) => {
      const bytes = serializeSafetensors(ts, meta);
      const f = ok(parseSafetensors(bytes));
      assert.equal(f.tensors.size, Object.keys(ts).length);
      for (const [name, t] of Object.entries(ts)) {
        const got = f.tensors.get(name);
        assert.ok(got, name);
        assert.equal(got.dtype, t.dtype);
        assert.deepEqual(got.shape, t.shape);
        assert.deepEqual(got.bytes, t.bytes);
      }
      assert.deepEqual({ ...f.metadata }, { ...(meta ?? {}) });
      assert.equal(f.headerSize % 8, 0);
    }),
    { numRuns: 300 },
  );
});

test('round trip of float values: F32 exact, F16/BF16 exact on representable values', () => {
  const f16Values = fc.integer({ min: 0, max: 0xffff }).filter((h) => (h & 0x7c00) !== 0x7c00); // finite halves
  fc.assert(
    fc.property(fc.array(fc.float({ noNaN: true }), { maxLength: 20 }), fc.array(f16Values, { maxLength: 20 }), fc.array(fc.integer({ min: 0, max: 0xffff }).filter((b) => (b & 0x7f80) !== 0x7f80), { maxLength: 20 }), (f32, h, bf) => {
      const halfVals = h.map((x) => {
        const dv = new DataView(new ArrayBuffer(2));
        dv.setUint16(0, x, true);
        const r = toFloat32({ name: 'x', dtype: 'F16', shape: [1], bytes: new Uint8Array(dv.buffer) });
        return E.isRight(r) ? r.right[0]! : NaN;
      });
      const bfVals = bf.map((x) => new Float32Array(new Uint32Array([x << 16]).buffer)[0]!);
      const ts: Record<string, TensorToWrite> = {
        a: { dtype: 'F32', shape: [f32.length], data: Float32Array.from(f32) },
        b: { dtype: 'F16', shape: [halfVals.length], data: halfVals },
        c: { dtype: 'BF16', shape: [bfVals.length], data: bfVals },
      };
      const f = ok(parseSafetensors(serializeSafetensors(ts)));
      const get = (n: string): number[] => {
        const r = toFloat32(f.tensors.get(n)!);
        assert.ok(E.isRight(r));
        return Array.from(r.right);
      };
      assert.deepEqual(get('a'), Array.from(Float32Array.from(f32)));
      assert.deepEqual(get('b'), halfVals);
      assert.deepEqual(get('c'), bfVals);
    }),
  );
});

test('serialize rejects data that does not match dtype × shape (a caller bug: throws)', () => {
  assert.throws(() => serializeSafetensors({ w: { dtype: 'F32', shape: [2, 3], data: [1, 2, 3] } }), /tensor 'w'.*needs 24 bytes, got 12/);
  assert.throws(() => serializeSafetensors({ __metadata__: { dtype: 'F32', shape: [], data: [1] } }), /reserved/);
});

// ---------- validation: each rule, with the tensor named ----------

test('header validation names the rule and the tensor', () => {
  const d = new Uint8Array(24);
  leftMatching(parseSafetensors(new Uint8Array(5)), /too short/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', d.subarray(0, 4))), /'a'.*run past|trailing|truncated/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}', d.subarray(0, 8))), /tensor 'a': unknown or unsupported dtype 'F33'/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}', d.subarray(0, 20))), /tensor 'a': dtype F32 × shape \[2,3\] needs 24 bytes but data_offsets \[0,20\] span 20/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}', d.subarray(0, 12))), /tensor 'b'.*gap/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', d.subarray(0, 8))), /tensor 'b'.*overlaps/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', d.subarray(0, 4))), /tensor 'a'.*(ends before|gap)/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', d.subarray(0, 8))), /cover 4 bytes but the data section has 8/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', d.subarray(0, 4))), /tensor 'a': invalid header entry/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"F32","shape":[1]}}')), /tensor 'a': invalid header entry.*data_offsets/);
  leftMatching(parseSafetensors(header('{"a":{"dtype":"U8","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}')), /tensor 'a'.*too large/);
  leftMatching(parseSafetensors(header('[1,2]')), /must be an object/);
  leftMatching(parseSafetensors(header('{"a":')), /not valid JSON/);
  leftMatching(parseSafetensors(header('{"__metadata__":{"k":1}}')), /__metadata__\.k must be a string/);
  const bad = header('{"a"}');
  bad[9] = 0xff;
  leftMatching(parseSafetensors(bad), /UTF-8/);
  const big = new Uint8Array(16);
  new DataView(big.buffer).setBigUint64(0, 2n ** 63n, true);
  leftMatching(parseSafetensors(big), /exceeds the 100000000-byte limit/);
  new DataView(big.buffer).setBigUint64(0, 9n, true);
  leftMatching(parseSafetensors(big), /runs past the end/);
  // zero-size tensors and scalars are fine
  const z = ok(parseSafetensors(header('{"e":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]}}', d.subarray(0, 8))));
  assert.deepEqual(z.tensors.get('e')?.shape, [0, 3]);
  assert.equal(z.tensors.get('s')?.bytes.length, 8);
});

// ---------- corruption: always a Left or a well-formed file, never a throw ----------

const sampleFile = (): Uint8Array =>
  serializeSafetensors({
    'h.0.w': { dtype: 'F32', shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 7) },
    'h.0.b': { dtype: 'F16', shape: [4], data: [1, 2, 3, 4] },
    ids: { dtype: 'I64', shape: [2], bytes: new Uint8Array(16).fill(1) },
    mask: { dtype: 'BOOL', shape: [3], bytes: Uint8Array.of(1, 0, 1) },
  }, { format: 'pt' });

/** A parse that succeeded must still be internally consistent: views inside the data section, sizes right. */
const wellFormed = (bytes: Uint8Array, f: SafetensorsFile): void => {
  let total = 0;
  for (const t of f.tensors.values()) {
    assert.equal(t.bytes.length, t.shape.reduce((a, b) => a * b, 1) * dtypeSize(t.dtype));
    assert.equal(t.bytes.buffer, bytes.buffer);
    assert.ok(t.bytes.byteOffset >= bytes.byteOffset + 8 + f.headerSize);
    assert.ok(t.bytes.byteOffset + t.bytes.length <= bytes.byteOffset + bytes.length);
    total += t.bytes.length;
  }
  assert.equal(8 + f.headerSize + total, bytes.length);
};

test('truncation anywhere is rejected with a Left', () => {
  const bytes = sampleFile();
  for (let len = 0; len < bytes.length; len++) {
    const r = parseSafetensors(bytes.slice(0, len));
    assert.ok(E.isLeft(r), `truncated to ${len}`);
  }
});

test('tampering with the header length field is rejected with a Left', () => {
  const bytes = sampleFile();
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).filter((x) => x !== BigInt(n)), (m) => {
      const b = bytes.slice();
      new DataView(b.buffer).setBigUint64(0, m, true);
      assert.ok(E.isLeft(parseSafetensors(b)));
    }),
    { numRuns: 500 },
  );
  for (let m = 0; m < bytes.length + 16; m++) {
    if (m === n) continue;
    const b = bytes.slice();
    new DataView(b.buffer).setBigUint64(0, BigInt(m), true);
    assert.ok(E.isLeft(parseSafetensors(b)), `length field ${m}`);
  }
});

test('byte flips in the header: a Left, or a well-formed file whose data layout is unchanged', () => {
  // The format has no checksum: a flip inside a name or a metadata string, or one that swaps
  // a dtype for another of the same size, is undetectable by design. What must hold is that
  // nothing throws and every tensor view still lies inside the data section with the right size.
  const bytes = sampleFile();
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const original = ok(parseSafetensors(bytes));
  const layout = (f: SafetensorsFile): string[] => [...f.tensors.values()].map((t) => `${t.bytes.byteOffset - bytes.byteOffset}:${t.bytes.length}`).sort();
  fc.assert(
    fc.property(fc.integer({ min: 8, max: 8 + n - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
      const b = bytes.slice();
      b[pos]! ^= x;
      const r = parseSafetensors(b);
      if (E.isRight(r)) {
        wellFormed(b, r.right);
        const rel = (f: SafetensorsFile, base: Uint8Array): string[] => [...f.tensors.values()].map((t) => `${t.bytes.byteOffset - base.byteOffset}:${t.bytes.length}`).sort();
        assert.deepEqual(rel(r.right, b), layout(original));
      }
    }),
    { numRuns: 2000 },
  );
});

test('byte flips in the data section are invisible to the format (no checksum) but never break parsing', () => {
  const bytes = sampleFile();
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  fc.assert(
    fc.property(fc.integer({ min: 8 + n, max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, x) => {
      const b = bytes.slice();
      b[pos]! ^= x;
      const r = parseSafetensors(b);
      assert.ok(E.isRight(r));
      wellFormed(b, r.right);
    }),
  );
});

test('a file held in a Node Buffer view at an odd offset of a shared pool reads correctly', () => {
  const bytes = serializeSafetensors({ w: { dtype: 'F32', shape: [3], data: [1.5, -2, 3] }, h: { dtype: 'F16', shape: [2], data: [0.5, 4] }, i: { dtype: 'I32', shape: [2], bytes: new Uint8Array(new Int32Array([7, -9]).buffer) } });
  const pool = Buffer.alloc(bytes.length + 11, 0xab);
  pool.set(bytes, 3);
  const f = ok(parseSafetensors(pool.subarray(3, 3 + bytes.length)));
  const w = toFloat32(f.tensors.get('w')!);
  const h = toFloat32(f.tensors.get('h')!);
  const i = toIntegers(f.tensors.get('i')!);
  assert.ok(E.isRight(w) && E.isRight(h) && E.isRight(i));
  assert.deepEqual(Array.from(w.right), [1.5, -2, 3]);
  assert.deepEqual(Array.from(h.right), [0.5, 4]);
  assert.deepEqual(i.right, [7, -9]);
});
