import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { mapWeights, stripPrefix, transpose2d, isGpt2Conv1dWeight, toFloat32Tensors, type Float32Tensor } from '../../src/io/tensors.ts';
import { parseSafetensors } from '../../src/io/safetensors.ts';
import { shared } from './paths.ts';

const tensor = (shape: number[], f: (i: number) => number = (i) => i): Float32Tensor => ({
  shape,
  data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i)),
});

test('stripPrefix removes at most one known prefix', () => {
  assert.equal(stripPrefix()('transformer.h.0.attn.c_attn.weight'), 'h.0.attn.c_attn.weight');
  assert.equal(stripPrefix()('model.layers.0.self_attn.q_proj.weight'), 'layers.0.self_attn.q_proj.weight');
  assert.equal(stripPrefix()('model.transformer.x'), 'transformer.x');
  assert.equal(stripPrefix()('lm_head.weight'), 'lm_head.weight');
  assert.equal(stripPrefix(['base.'])('base.a'), 'a');
});

test('transpose2d: element (i,j) moves to (j,i); twice is the identity', () => {
  const t = tensor([2, 3]);
  assert.deepEqual(Array.from(transpose2d(t).data), [0, 3, 1, 4, 2, 5]);
  assert.deepEqual(transpose2d(t).shape, [3, 2]);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 7 }), (r, c) => {
      const x = tensor([r, c], () => Math.random());
      const y = transpose2d(transpose2d(x));
      assert.deepEqual(y.shape, [r, c]);
      assert.deepEqual(y.data, x.data);
      const tx = transpose2d(x);
      for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) assert.equal(tx.data[j * r + i], x.data[i * c + j]);
    }),
  );
  assert.throws(() => transpose2d(tensor([2, 2, 2])), /2-D/);
});

test('GPT-2 Conv1D predicate', () => {
  for (const n of ['h.0.attn.c_attn.weight', 'h.11.attn.c_proj.weight', 'h.3.mlp.c_fc.weight', 'h.3.mlp.c_proj.weight']) assert.ok(isGpt2Conv1dWeight(n), n);
  for (const n of ['h.0.attn.c_attn.bias', 'wte.weight', 'h.0.ln_1.weight', 'lm_head.weight']) assert.ok(!isGpt2Conv1dWeight(n), n);
});

test('mapWeights reports every mismatch with the tensor name and both shapes', () => {
  const ckpt = new Map<string, Float32Tensor>([
    ['transformer.h.3.attn.c_attn.weight', tensor([64, 128])],
    ['transformer.h.3.attn.c_attn.bias', tensor([192])],
    ['transformer.h.3.attn.bias', tensor([1, 1, 4, 4])],
    ['transformer.extra', tensor([1])],
  ]);
  const r = mapWeights({
    expected: { 'h.3.attn.c_attn.weight': [64, 192], 'h.3.attn.c_attn.bias': [192], 'wte.weight': [10, 64], 'lm_head.weight': [10, 64] },
    optional: (n) => n === 'lm_head.weight',
    ignore: (n) => /\.attn\.bias$/.test(n),
  })(ckpt);
  assert.ok(E.isLeft(r));
  const lines = r.left.split('\n').sort();
  assert.deepEqual(lines, [
    'extra: unexpected tensor in checkpoint (as \'transformer.extra\'), shape [1]',
    'h.3.attn.c_attn.weight: expected [64,192], got [64,128]',
    'wte.weight: missing from checkpoint, expected shape [10,64]',
  ]);
});

test('mapWeights transposes the listed tensors and checks shapes in the model layout', () => {
  const w = tensor([2, 3]); // stored [in=2, out=3]
  const ok = mapWeights({ expected: { 'c.weight': [3, 2] }, transposed: (n) => n === 'c.weight' })(new Map([['c.weight', w]]));
  assert.ok(E.isRight(ok));
  assert.deepEqual(ok.right.get('c.weight'), transpose2d(w));
  const bad = mapWeights({ expected: { 'c.weight': [2, 3] }, transposed: () => true })(new Map([['c.weight', w]]));
  assert.ok(E.isLeft(bad));
  assert.equal(bad.left, 'c.weight: expected [2,3], got [3,2] (stored transposed as [2,3])');
  const twice = mapWeights({ expected: { a: [1] } })(new Map([['model.a', tensor([1])], ['transformer.a', tensor([1])]]));
  assert.ok(E.isLeft(twice));
  assert.match(twice.left, /a: given twice in checkpoint/);
});

test('mapWeights is the identity on a checkpoint that matches exactly (property)', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.stringMatching(/^[a-z]{1,6}(\.[a-z0-9]{1,4}){0,2}$/), fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 3 }), { minKeys: 1, maxKeys: 8 }), (shapes) => {
      const ckpt = new Map(Object.entries(shapes).map(([n, s]) => [`model.${n}`, tensor(s)] as const));
      const r = mapWeights({ expected: shapes })(ckpt);
      assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
      for (const [n, s] of Object.entries(shapes)) assert.deepEqual(r.right.get(n)?.shape, s);
    }),
  );
});

const gpt2Random = join(shared, 'models/hf-random-gpt2-lmbuddy/model.safetensors');
test('a real transformers GPT-2 checkpoint maps onto the GPT-2 parameter list', { skip: !existsSync(gpt2Random) && 'shared models missing' }, () => {
  const f = parseSafetensors(new Uint8Array(readFileSync(gpt2Random)));
  assert.ok(E.isRight(f));
  const ts = toFloat32Tensors(f.right.tensors.values());
  assert.ok(E.isRight(ts));
  const d = 2;
  const V = 50257;
  const expected: Record<string, number[]> = {
    'wte.weight': [V, d], 'wpe.weight': [1024, d], 'ln_f.weight': [d], 'ln_f.bias': [d],
    'h.0.ln_1.weight': [d], 'h.0.ln_1.bias': [d], 'h.0.ln_2.weight': [d], 'h.0.ln_2.bias': [d],
    // Linear layout [out, in]: transposed from the stored Conv1D [in, out]
    'h.0.attn.c_attn.weight': [3 * d, d], 'h.0.attn.c_attn.bias': [3 * d],
    'h.0.attn.c_proj.weight': [d, d], 'h.0.attn.c_proj.bias': [d],
    'h.0.mlp.c_fc.weight': [4 * d, d], 'h.0.mlp.c_fc.bias': [4 * d],
    'h.0.mlp.c_proj.weight': [d, 4 * d], 'h.0.mlp.c_proj.bias': [d],
  };
  const r = mapWeights({ expected, transposed: isGpt2Conv1dWeight, ignore: (n) => /attn\.(masked_)?bias$/.test(n) })(ts.right);
  assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
  const stored = ts.right.get('transformer.h.0.attn.c_attn.weight')!;
  assert.deepEqual(stored.shape, [2, 6]);
  assert.equal(r.right.get('h.0.attn.c_attn.weight')!.data[1], stored.data[6]); // (0,1) of [6,2] = (1,0) of [2,6]
});
