/**
 * A user-defined kind reaches every placement the built-in kinds have: written as a kind, a
 * prefix of keys/values before the input, virtual embeddings and an infix between source and
 * target give exactly the built-in prefix, embedding and infix kinds' logits for the same
 * values (on a random GPT-2 and Llama, the source apart for the infix), alone and composed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as t from 'io-ts';
import { graph } from '../../src/ir/graph.ts';
import { input } from '../../src/ops/leaves.ts';
import { evaluate } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { decodeModelConfig, type CausalLmConfig } from '../../src/models/index.ts';
import { inject } from '../../src/prefix/inject.ts';
import { injectedCausalForward, modelSites } from '../../src/prefix/graphs.ts';
import { defineKind, siteOf } from '../../src/prefix/kind.ts';
import type { Variant } from '../../src/prefix/variant.ts';
import { randomParams, prng } from '../models/random.ts';

const P = 2;
/** The three placements as one user kind: `where` picks which. */
const placed = defineKind({
  name: 'placed',
  codec: t.type({ where: t.keyof({ prefix: null, embedding: null, infix: null }) }),
  params: ({ where }, m) => ({ x: { shape: [P, where === 'embedding' ? m.embedDim : 2 * siteOf(m, 'self').layers * siteOf(m, 'self').tokenDim], init: { kind: 'zeros' } } }),
  transform: ({ x }, { where }, ctx) => {
    if (where === 'embedding') return { embeddings: x };
    const kv = ctx.toPast(x, 'self', siteOf(ctx, 'self').indices);
    return where === 'prefix' ? { past: { self: kv } } : { infix: kv };
  },
});

const configs = [
  { model_type: 'gpt2', vocab_size: 11, n_positions: 24, n_embd: 8, n_layer: 2, n_head: 2 },
  { model_type: 'llama', vocab_size: 11, hidden_size: 8, intermediate_size: 6, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, max_position_embeddings: 32 },
];

for (const json of configs) {
  test(`${json.model_type}: a user kind at the prefix, embedding and infix placements equals the built-in kinds`, () => {
    const c = decodeModelConfig(json);
    if (c._tag === 'Left') throw new Error(c.left);
    const cfg = c.right as CausalLmConfig;
    const weights = randomParams(cfg, 3);
    const rnd = prng(9);
    const values = new Map<string, Float32Array>();
    const value = (n: number, k: number) => values.get(`${k}:${n}`) ?? values.set(`${k}:${n}`, Float32Array.from({ length: n }, () => rnd() - 0.5)).get(`${k}:${n}`)!;
    const i32 = (shape: number[], d: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(d) });
    const feeds = { input_ids: i32([2, 3], [1, 2, 3, 4, 5, 6]), attention_mask: i32([2, 3], [1, 1, 1, 1, 1, 0]), source_ids: i32([2, 2], [7, 8, 9, 10]), source_mask: i32([2, 2], [1, 1, 1, 0]) };
    /** Logits with each part's parameter (the first of each scope) set to the k-th shared value. */
    const logits = (variant: Variant, infix: boolean): Float32Array => {
      const inj = inject(modelSites(cfg), variant, { kinds: [placed] });
      const params: Record<string, HostTensor> = { ...weights };
      inj.trainable.forEach((p, k) => { const n = p.shape.reduce((a, b) => a * b, 1); params[p.name] = { dtype: 'float32', shape: [...p.shape], data: value(n, k) }; });
      const g = graph({ logits: injectedCausalForward(cfg, inj, {
        ids: input('input_ids', ['B', 'T'], 'int32'), mask: input('attention_mask', ['B', 'T'], 'int32'),
        ...(infix ? { source: { ids: input('source_ids', ['B', 'S'], 'int32'), mask: input('source_mask', ['B', 'S'], 'int32') } } : {}),
      }).logits });
      return evaluate(g, feeds, params)['logits']!.data as Float32Array;
    };
    const user = (where: 'prefix' | 'embedding' | 'infix'): Variant => placed.variant({ where });
    const cases: [Variant, Variant, boolean][] = [
      [user('prefix'), { kind: 'prefix', length: P }, false],
      [user('embedding'), { kind: 'embedding', length: P }, false],
      [user('infix'), { kind: 'infix', length: P }, true],
      [{ kind: 'compose', parts: [user('prefix'), user('embedding')] }, { kind: 'compose', parts: [{ kind: 'prefix', length: P }, { kind: 'embedding', length: P }] }, false],
    ];
    for (const [mine, builtin, infix] of cases) {
      const [a, b] = [logits(mine, infix), logits(builtin, infix)];
      assert.equal(a.length, b.length);
      const d = Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
      assert.ok(d <= 1e-5, `${JSON.stringify(mine)} vs ${JSON.stringify(builtin)}: ${d}`);
      const base = logits({ kind: 'prefix', length: 0 }, false);
      if (!infix) assert.ok(Math.max(...a.map((x, i) => Math.abs(x - base[i]!))) > 1e-3, 'the placement changes the logits');
    }
  });
}
