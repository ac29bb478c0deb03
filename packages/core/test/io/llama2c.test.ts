import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { parseLlama2cModel, parseLlama2cTokenizer, permuteRopeRows, mergesFromScores, llamaTokenizerJson, sentencePiecesOfLlama2c } from '../../src/io/llama2c.ts';

interface Dims { D: number; F: number; L: number; H: number; KV: number; V: number; T: number }
const dimsArb = fc
  .record({ hd: fc.constantFrom(2, 4), H: fc.integer({ min: 1, max: 4 }), g: fc.constantFrom(1, 2), F: fc.integer({ min: 1, max: 5 }), L: fc.integer({ min: 1, max: 3 }), V: fc.integer({ min: 3, max: 9 }), T: fc.integer({ min: 1, max: 4 }) })
  .filter(({ H, g }) => H % g === 0)
  .map(({ hd, H, g, F, L, V, T }): Dims => ({ D: hd * H, F, L, H, KV: H / g, V, T }));

/** Writes a llama2.c model.bin the way export.py does (legacy_export / version1_export); weight k holds value k + index/1000. */
const writeModel = (d: Dims, shared: boolean, version: 0 | 1): { bytes: Uint8Array; tensors: Record<string, Float32Array[]> } => {
  const hd = d.D / d.H;
  const kv = d.KV * hd;
  let counter = 0;
  const mk = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.fround(counter + i / 1000)).map((x) => x);
  const layers = (n: number): Float32Array[] => Array.from({ length: d.L }, () => { counter++; return mk(n); });
  const one = (n: number): Float32Array[] => { counter++; return [mk(n)]; };
  const t: Record<string, Float32Array[]> = {
    emb: one(d.V * d.D), rmsAtt: layers(d.D), wq: layers(d.D * d.D), wk: layers(kv * d.D), wv: layers(kv * d.D), wo: layers(d.D * d.D),
    rmsFfn: layers(d.D), w1: layers(d.F * d.D), w2: layers(d.D * d.F), w3: layers(d.F * d.D), rmsFinal: one(d.D),
    freqs: one(d.T * hd), wcls: shared ? [] : one(d.V * d.D),
  };
  const order = version === 0
    ? ['emb', 'rmsAtt', 'wq', 'wk', 'wv', 'wo', 'rmsFfn', 'w1', 'w2', 'w3', 'rmsFinal', 'freqs', 'wcls']
    : ['rmsAtt', 'rmsFfn', 'rmsFinal', 'emb', 'wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3', 'wcls'];
  const floats = order.flatMap((k) => t[k]!.flatMap((a) => Array.from(a)));
  const head = version === 0 ? 28 : 256;
  const bytes = new Uint8Array(head + 4 * floats.length);
  const dv = new DataView(bytes.buffer);
  const ints = [d.D, d.F, d.L, d.H, d.KV, version === 0 && !shared ? -d.V : d.V, d.T];
  if (version === 1) {
    dv.setUint32(0, 0x616b3432, true);
    dv.setInt32(4, 1, true);
    ints.forEach((x, i) => dv.setInt32(8 + 4 * i, x, true));
    dv.setUint8(36, shared ? 1 : 0);
  } else ints.forEach((x, i) => dv.setInt32(4 * i, x, true));
  floats.forEach((x, i) => dv.setFloat32(head + 4 * i, x, true));
  return { bytes, tensors: t };
};

test('model.bin v0 and v1: every weight lands where export.py put it', () => {
  fc.assert(
    fc.property(dimsArb, fc.boolean(), fc.constantFrom(0 as const, 1 as const), (d, shared, version) => {
      const { bytes, tensors: t } = writeModel(d, shared, version);
      const r = parseLlama2cModel(bytes);
      assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
      const { config: c, weights: w } = r.right;
      assert.deepEqual([c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.seqLen], [d.D, d.F, d.L, d.H, d.KV, d.V, d.T]);
      assert.equal(c.sharedClassifier, shared);
      assert.equal(c.version, version);
      assert.deepEqual(w.tokenEmbedding, t.emb![0]);
      for (const k of ['rmsAtt', 'wq', 'wk', 'wv', 'wo', 'rmsFfn', 'w1', 'w2', 'w3'] as const) assert.deepEqual(w[k], t[k], k);
      assert.deepEqual(w.rmsFinal, t.rmsFinal![0]);
      assert.deepEqual(w.wcls, shared ? t.emb![0] : t.wcls![0]);
      // one float more or less is refused with the header's figures
      const longer = new Uint8Array(bytes.length + 4);
      longer.set(bytes);
      const bad = parseLlama2cModel(longer);
      assert.ok(E.isLeft(bad));
      assert.match(bad.left, /implies \d+/);
      assert.ok(E.isLeft(parseLlama2cModel(bytes.subarray(0, bytes.length - 4))));
    }),
    { numRuns: 60 },
  );
});

test('model.bin header errors are explicit', () => {
  assert.match((parseLlama2cModel(new Uint8Array(10)) as E.Left<string>).left, /too short/);
  const b = new Uint8Array(28);
  new DataView(b.buffer).setInt32(0, 0, true);
  assert.match((parseLlama2cModel(b) as E.Left<string>).left, /dim = 0 is out of range/);
  const v2 = new Uint8Array(256);
  new DataView(v2.buffer).setUint32(0, 0x616b3432, true);
  new DataView(v2.buffer).setInt32(4, 2, true);
  assert.match((parseLlama2cModel(v2) as E.Left<string>).left, /version 2 is not supported/);
});

/** run.c RoPE on interleaved pairs vs HF rotate_half on halves. */
const ropeInterleaved = (v: number[], H: number, hd: number, pos: number): number[] => {
  const out = [...v];
  for (let i = 0; i < H * hd; i += 2) {
    const f = pos / 10000 ** ((i % hd) / hd);
    out[i] = v[i]! * Math.cos(f) - v[i + 1]! * Math.sin(f);
    out[i + 1] = v[i]! * Math.sin(f) + v[i + 1]! * Math.cos(f);
  }
  return out;
};
const ropeHalf = (v: number[], H: number, hd: number, pos: number): number[] => {
  const out = [...v];
  const half = hd / 2;
  for (let h = 0; h < H; h++)
    for (let i = 0; i < half; i++) {
      const f = pos / 10000 ** ((2 * i) / hd);
      const a = v[h * hd + i]!, b = v[h * hd + i + half]!;
      out[h * hd + i] = a * Math.cos(f) - b * Math.sin(f);
      out[h * hd + i + half] = b * Math.cos(f) + a * Math.sin(f);
    }
  return out;
};

test('permuteRopeRows: HF rotate_half on the permuted projection gives the same attention scores as llama2.c', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 4 }), fc.constantFrom(2, 4, 8), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 }), fc.integer(), (H, hd, cols, p1, p2, seed) => {
      let s = seed;
      const rnd = (): number => ((s = (s * 1103515245 + 12345) | 0) >>> 0) / 2 ** 32 - 0.5;
      const wq = Float32Array.from({ length: H * hd * cols }, rnd);
      const wk = Float32Array.from({ length: H * hd * cols }, rnd);
      const x1 = Array.from({ length: cols }, rnd), x2 = Array.from({ length: cols }, rnd);
      const mv = (w: Float32Array, x: number[]): number[] => Array.from({ length: H * hd }, (_, r) => x.reduce((a, xv, c) => a + w[r * cols + c]! * xv, 0));
      const q0 = ropeInterleaved(mv(wq, x1), H, hd, p1), k0 = ropeInterleaved(mv(wk, x2), H, hd, p2);
      const q1 = ropeHalf(mv(permuteRopeRows(wq, H, hd, cols), x1), H, hd, p1), k1 = ropeHalf(mv(permuteRopeRows(wk, H, hd, cols), x2), H, hd, p2);
      for (let h = 0; h < H; h++) {
        let a = 0, b = 0;
        for (let i = 0; i < hd; i++) { a += q0[h * hd + i]! * k0[h * hd + i]!; b += q1[h * hd + i]! * k1[h * hd + i]!; }
        assert.ok(Math.abs(a - b) < 1e-9, `head ${h}: ${a} vs ${b}`);
      }
    }),
  );
  // and it is a permutation: rows are moved, not mixed
  const w = Float32Array.from({ length: 8 }, (_, i) => i);
  assert.deepEqual(Array.from(permuteRopeRows(w, 1, 8, 1)), [0, 2, 4, 6, 1, 3, 5, 7]);
});

test('tokenizer.bin: entries to the end; truncation and bad lengths named', () => {
  const entries: [number, string][] = [[0, '<unk>'], [0, '\n<s>\n'], [0, '\n</s>\n'], [-1, ' a'], [-2, 'é']];
  const enc = new TextEncoder();
  const parts = entries.map(([score, s]) => {
    const b = enc.encode(s);
    const out = new Uint8Array(8 + b.length);
    new DataView(out.buffer).setFloat32(0, score, true);
    new DataView(out.buffer).setInt32(4, b.length, true);
    out.set(b, 8);
    return out;
  });
  const all = new Uint8Array(4 + parts.reduce((a, p) => a + p.length, 0));
  new DataView(all.buffer).setUint32(0, 7, true);
  let o = 4;
  for (const p of parts) { all.set(p, o); o += p.length; }
  const r = parseLlama2cTokenizer(all);
  assert.ok(E.isRight(r));
  assert.deepEqual(r.right.pieces.map((p) => p.text), entries.map((e) => e[1]));
  assert.deepEqual(sentencePiecesOfLlama2c(r.right.pieces).map((p) => p.piece), ['<unk>', '<s>', '</s>', '▁a', 'é']);
  const cut = parseLlama2cTokenizer(all.subarray(0, all.length - 1));
  assert.ok(E.isLeft(cut));
  assert.match(cut.left, /entry 4/);
});

test('merges from scores: every split into two vocabulary pieces, best merged score first', () => {
  const pieces = [
    { piece: '<unk>', score: 0 }, { piece: '<s>', score: 0 }, { piece: '</s>', score: 0 },
    { piece: '▁t', score: -1 }, { piece: 'he', score: -2 }, { piece: '▁the', score: -3 }, { piece: '▁th', score: -4 },
    { piece: '▁', score: -5 }, { piece: 't', score: -6 }, { piece: 'h', score: -7 }, { piece: 'e', score: -8 },
  ];
  const merges = mergesFromScores(pieces, new Set(['<unk>', '<s>', '</s>']));
  assert.deepEqual(merges, [
    ['▁', 't'], // ▁t (-1)
    ['h', 'e'], // he (-2)
    ['▁th', 'e'], ['▁t', 'he'], // ▁the (-3): longer left half first
    ['▁t', 'h'], // ▁th (-4)
  ]);
  const tj = llamaTokenizerJson(pieces);
  assert.ok(E.isRight(tj));
  assert.ok(E.isLeft(llamaTokenizerJson(pieces.slice(1))));
  assert.ok(E.isLeft(llamaTokenizerJson([...pieces, { piece: 'he', score: 0 }])));
});
