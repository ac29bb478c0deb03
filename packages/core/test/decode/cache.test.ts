/**
 * The capacity-buffer KV cache and its step graph: what `KvCache` feeds after any sequence of
 * appends and beam reorderings is what a plain list of per-row positions holds (free capacity
 * masked, the step's own column visible); and `appendStepGraph` over such buffers (whatever
 * the free positions contain) equals the concatenating step graph: same logits, and its new
 * entries are the last position of `present`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { evaluate } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { causalLmKvGeometry, type CausalLmConfig } from '../../src/models/index.ts';
import { appendStepGraph, cachedStepForward, KvCache } from '../../src/decode/cache.ts';
import { presentOutputs } from '../../src/models/causal.ts';
import { lastPosition } from '../../src/models/common.ts';
import { graph } from '../../src/ir/graph.ts';
import { sym } from '../../src/types/dim.ts';
import { gpt2Json, llamaJson, decodeOk, randomParams, prng, randomIds } from '../models/random.ts';

/**
 * The oracle: the step over a plain per-layer cache of Tpast{l} positions (int32 mask), returning
 * the whole grown cache `present.{l}.*` = concat(past, new), as transformers' step does.
 */
const concatStepGraph = (cfg: CausalLmConfig) => {
  const out = cachedStepForward(cfg, (l) => sym(`Tpast${l}`), 'int32');
  return graph({ logits: lastPosition(out.logits), ...presentOutputs(out.presents) });
};

/** One cached position of one row: its key and value per head, and whether it is attended. */
interface Pos { readonly k: number[][]; readonly v: number[][]; readonly m: number }

const f32 = (shape: number[], data: ArrayLike<number>): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(data) });

/** [R, H, T, D] from rows[r][t] positions (float32 values stored in a Float64Array with `f64`, as the f64 reference evaluator returns them). */
const pack = (rows: readonly (readonly Pos[])[], H: number, D: number, which: 'k' | 'v', f64 = false): HostTensor => {
  const T = rows[0]!.length;
  const out: number[] = [];
  for (const row of rows) for (let h = 0; h < H; h++) for (const p of row) out.push(...p[which][h]!);
  return f64 ? { dtype: 'float32', shape: [rows.length, H, T, D], data: Float64Array.from(out) } : f32([rows.length, H, T, D], out);
};

/** Checks what the cache feeds against the model `rows[l][r]` (positions of layer l, row r). */
const checkFeeds = (c: KvCache, model: readonly (readonly (readonly Pos[])[])[], H: number, D: number, f64: boolean): void => {
  const round = f64 ? (x: number) => x : Math.fround;
  const f = c.feeds();
  model.forEach((rows, l) => {
    const k = f[`past_key_values.${l}.key`]!;
    const v = f[`past_key_values.${l}.value`]!;
    const m = f[`attention_mask.${l}`]!;
    const [R, , C] = k.shape as [number, number, number, number];
    const T = rows[0]!.length;
    assert.equal(c.lengths[l], T);
    assert.ok(C >= T, `capacity ${C} < length ${T}`);
    assert.deepEqual(v.shape, k.shape);
    assert.deepEqual(m.shape, [R, C + 1]);
    rows.forEach((row, r) => {
      for (let t = 0; t <= C; t++) {
        const want = t < T ? row[t]!.m : t === C ? 1 : 0;
        assert.equal(m.data[r * (C + 1) + t], want, `layer ${l} row ${r} mask[${t}]`);
      }
      row.forEach((p, t) => {
        for (let h = 0; h < H; h++)
          for (let d = 0; d < D; d++) {
            const at = ((r * H + h) * C + t) * D + d;
            assert.equal(k.data[at], round(p.k[h]![d]!), `layer ${l} row ${r} key t=${t} h=${h} d=${d}`);
            assert.equal(v.data[at], round(p.v[h]![d]!), `layer ${l} row ${r} value t=${t} h=${h} d=${d}`);
          }
      });
    });
  });
};

const op = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), seed: fc.integer({ min: 0, max: 1e6 }) }),
  fc.record({ kind: fc.constant('reorder' as const), seed: fc.integer({ min: 0, max: 1e6 }) }),
);

test('KvCache holds what a list of positions per row holds, through appends (past its capacity) and reorders, in the presents\' storage', () => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 3 }),
    fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 2 }), fc.integer({ min: 0, max: 3 }),
    fc.array(op, { maxLength: 30 }), fc.integer({ min: 0, max: 1e6 }), fc.boolean(),
    (R, H, D, T0, reserve, ops, seed, f64) => {
      const rnd = prng(seed);
      const vec = (): number[][] => Array.from({ length: H }, () => Array.from({ length: D }, () => 2 * rnd() - 1));
      let model: Pos[][][] = T0.map((T) => Array.from({ length: R }, () => Array.from({ length: T }, () => ({ k: vec(), v: vec(), m: rnd() < 0.7 ? 1 : 0 }))));
      const masks = model.map((rows) => Int32Array.from(rows.flatMap((row) => row.map((p) => p.m))));
      const c = new KvCache(R, H, D, model.map((rows) => ({ key: pack(rows, H, D, 'k', f64), value: pack(rows, H, D, 'v', f64) })), masks, reserve);
      checkFeeds(c, model, H, D, f64);
      for (const o of ops) {
        const r2 = prng(o.seed);
        if (o.kind === 'append') {
          const news = model.map((rows) => rows.map(() => ({ k: vec(), v: vec(), m: 1 })));
          const out: Record<string, HostTensor> = {};
          news.forEach((rows, l) => {
            out[`new_key_values.${l}.key`] = pack(rows.map((p) => [p]), H, D, 'k', f64);
            out[`new_key_values.${l}.value`] = pack(rows.map((p) => [p]), H, D, 'v', f64);
          });
          c.append(out);
          model = model.map((rows, l) => rows.map((row, r) => [...row, news[l]![r]!]));
        } else {
          const parents = Int32Array.from({ length: R }, () => Math.floor(r2() * R));
          c.reorder(parents);
          model = model.map((rows) => Array.from(parents, (p) => rows[p]!));
        }
        checkFeeds(c, model, H, D, f64);
      }
    },
  ), { numRuns: 60 });
});

test('KvCache refuses presents and masks of the wrong geometry', () => {
  const kv = { key: f32([2, 1, 3, 2], new Array(12).fill(0)), value: f32([2, 1, 3, 2], new Array(12).fill(0)) };
  assert.throws(() => new KvCache(2, 2, 2, [kv], [new Int32Array(6)]), /layer 0 keys \[2,1,3,2\]/);
  assert.throws(() => new KvCache(2, 1, 2, [kv], [new Int32Array(5)]), /layer 0 mask has 5 entries, expected 2×3/);
  const c = new KvCache(2, 1, 2, [kv], [new Int32Array(6)]);
  assert.throws(() => c.append({}), /missing new_key_values\.0\.key/);
  assert.throws(() => c.append({ 'new_key_values.0.key': f32([1, 1, 1, 2], [0, 0]), 'new_key_values.0.value': f32([1, 1, 1, 2], [0, 0]) }), /expected 4 new entries/);
});

test('appendStepGraph over capacity buffers (any free contents) = the concatenating step graph', () => {
  fc.assert(fc.property(fc.oneof(gpt2Json, llamaJson), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 1e6 }), (json, R, T, free, seed) => {
    const cfg = decodeOk(json) as CausalLmConfig;
    const { layers: L, heads: H, headDim: D } = causalLmKvGeometry(cfg);
    const params = randomParams(cfg, seed);
    const rnd = prng(seed + 1);
    const noise = (n: number): number[] => Array.from({ length: n }, () => 2 * rnd() - 1);
    // each row attends to at least one cached position
    const mask = Int32Array.from({ length: R * T }, (_, i) => (i % T === T - 1 || rnd() < 0.6 ? 1 : 0));
    const ids = randomIds(rnd, R, 1, cfg.vocab_size);
    const pos = Array.from({ length: R }, () => T + Math.floor(rnd() * 3));
    const common = { input_ids: { dtype: 'int32' as const, shape: [R, 1], data: Int32Array.from(ids) }, position_ids: { dtype: 'int32' as const, shape: [R, 1], data: Int32Array.from(pos) } };
    const plain: Record<string, HostTensor> = { ...common };
    const capacity: Record<string, HostTensor> = { ...common };
    const C = T + free;
    for (let l = 0; l < L; l++) {
      for (const kind of ['key', 'value']) {
        const past = noise(R * H * T * D);
        plain[`past_key_values.${l}.${kind}`] = f32([R, H, T, D], past);
        const buf = noise(R * H * C * D); // free positions hold junk
        for (let rh = 0; rh < R * H; rh++) buf.splice(rh * C * D, T * D, ...past.slice(rh * T * D, (rh + 1) * T * D));
        capacity[`past_key_values.${l}.${kind}`] = f32([R, H, C, D], buf);
      }
      plain[`attention_mask.${l}`] = { dtype: 'int32', shape: [R, T + 1], data: Int32Array.from({ length: R * (T + 1) }, (_, i) => (i % (T + 1) === T ? 1 : mask[Math.floor(i / (T + 1)) * T + (i % (T + 1))]!)) };
      capacity[`attention_mask.${l}`] = { dtype: 'bool', shape: [R, C + 1], data: Uint8Array.from({ length: R * (C + 1) }, (_, i) => {
        const [r, t] = [Math.floor(i / (C + 1)), i % (C + 1)];
        return t === C ? 1 : t < T ? mask[r * T + t]! : 0;
      }) };
    }
    const want = evaluate(concatStepGraph(cfg), plain, params, { precision: 'f64' });
    const got = evaluate(appendStepGraph(cfg), capacity, params, { precision: 'f64' });
    const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
      assert.equal(a.length, b.length, what);
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-9 * (1 + Math.abs(b[i]!)), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
    };
    close(got['logits']!.data as Float64Array, want['logits']!.data as Float64Array, 'logits');
    for (let l = 0; l < L; l++)
      for (const kind of ['key', 'value']) {
        const present = want[`present.${l}.${kind}`]!;
        const last: number[] = [];
        for (let rh = 0; rh < R * H; rh++) last.push(...Array.from(present.data.slice((rh * (T + 1) + T) * D, (rh * (T + 1) + T + 1) * D) as Float64Array));
        const got1 = got[`new_key_values.${l}.${kind}`]!;
        assert.deepEqual(got1.shape, [R, H, 1, D]);
        close(got1.data as Float64Array, last, `new_key_values.${l}.${kind}`);
      }
  }), { numRuns: 25 });
});
