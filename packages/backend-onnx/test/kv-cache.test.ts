/**
 * Decoding steps that read their KV cache in place: attention over keys/values concatenated
 * along time, when nothing else needs the concatenation, is lowered block by block (no copy
 * of the cache) and equals the reference evaluator; a slice that takes one whole operand of a
 * concat is that operand; regrouping the rows of a product (the logits) regroups its left operand; core's `appendStepGraph` lowers with no node copying the cache; and
 * core's `causalDecoder` on ONNX Runtime (capacity buffers grown past their first size, beams
 * reordering them, a prefix bank, left padding) chooses the reference backend's tokens.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import {
  type HostTensor, type Gpt2Config, type CausalLmConfig, type Node, type Dim, graph, decodeModelConfig, modelParamShapes, inject, modelSites, causalDecoder, referenceBackend, f32
} from '@prefix-tuning/core';
import { attention, concat, slice, dimAdd, dimToString, matmul, reshape } from '@prefix-tuning/core/graph';
import { greedyOrSample, beamSearch, appendStepGraph } from '@prefix-tuning/core/decode';
import { lowerGraph } from '../src/lower/graph.ts';
import { onnxBackend } from '../src/index.ts';
import { withCtx, agree, rng } from './support.ts';

const concatsReading = (g: ReturnType<typeof graph>, prefix: string): number =>
  lowerGraph(g).model.graph.nodes.filter((n) => n.opType === 'Concat' && n.inputs.some((i) => i.startsWith(prefix))).length;

describe('attention over time blocks', () => {
  it('= the reference, whether the concatenation is also an output, sliced, or only attended (1 or T queries, GQA, masks)', () =>
    fc.assert(fc.asyncProperty(withCtx((c) => {
      const hk = c.int(1, 2);
      const h = hk * c.int(1, 2);
      const d = c.int(1, 4);
      const Tq = c.bool() ? 1 : 'A';
      const blocks = c.int(1, 3);
      const lens = Array.from({ length: blocks - 1 }, () => c.tok());
      const ks = [...lens.map((t) => c.input(['C', hk, t, d], 'float32', () => c.uniform(-2, 2))), c.input(['C', hk, Tq, d], 'float32', () => c.uniform(-2, 2))];
      const vs = [...lens.map((t) => c.input(['C', hk, t, d + 1])), c.input(['C', hk, Tq, d + 1])];
      const k = concat(ks, 2);
      const v = concat(vs, 2);
      const q = c.input(['C', h, Tq, d], 'float32', () => c.uniform(-2, 2));
      const Tk = k.shape[2]!;
      const km = c.bool() ? c.input(['C', typeof Tk === 'number' ? Tk : dimToString(Tk)], 'bool', () => (c.rand() < 0.7 ? 1 : 0)) : undefined;
      const out: Record<string, Node> = { y: attention(q, k, v, { scale: c.uniform(0.2, 1), causal: c.bool(), ...(km ? { keyMask: km } : {}) }) };
      const use = c.pick(['attended', 'sliced', 'output'] as const);
      if (use === 'sliced') {
        const i = c.int(0, blocks - 1);
        const start = ks.slice(0, i).reduce<Dim>((s, x) => dimAdd(s, x.shape[2]!), 0);
        out['newK'] = slice(k, 2, start, dimAdd(start, ks[i]!.shape[2]!));
        out['newV'] = slice(v, 2, start, dimAdd(start, vs[i]!.shape[2]!));
      } else if (use === 'output') out['k'] = k;
      return { g: graph(out), use };
    }), async ({ c, out: { g, use } }) => {
      await agree(g, c);
      // the cache blocks are read in place unless the concatenation itself is wanted
      const copies = lowerGraph(g).model.graph.nodes.filter((n) => n.opType === 'Concat' && n.inputs.some((i) => i.startsWith('x'))).length;
      if (use !== 'output') assert.equal(copies, 0, `${use}: the blocks were concatenated`);
    }), { numRuns: 40 }));
});

describe('reshaping the rows of a product by a matrix', () => {
  it('= the reference, and regroups the left operand instead of the product when nothing else reads it', () =>
    fc.assert(fc.asyncProperty(withCtx((c) => {
      const k = c.int(1, 4);
      const n = c.int(1, 5);
      const x = c.input(['A', 1, c.pick([1, 'B']), k]);
      const w = c.param([k, n]);
      const p = matmul(x, w); // [A, 1, 1|B, n]
      const shared = c.bool();
      const y = reshape(p, [p.shape[0]!, p.shape[2]!, n]);
      return { g: graph(shared ? { y, p } : { y }), shared };
    }), async ({ c, out: { g, shared } }) => {
      await agree(g, c);
      const m = lowerGraph(g).model.graph;
      const products = new Set(m.nodes.filter((n) => n.opType === 'MatMul').flatMap((n) => n.outputs));
      const reshaped = m.nodes.filter((n) => n.opType === 'Reshape' && products.has(n.inputs[0]!)).length;
      assert.equal(reshaped, shared ? 1 : 0);
    }), { numRuns: 20 }));
});

const cfgE = decodeModelConfig({ model_type: 'gpt2', vocab_size: 40, n_positions: 96, n_embd: 16, n_layer: 2, n_head: 2 });
if (E.isLeft(cfgE)) throw new Error(cfgE.left);
const gpt2 = cfgE.right as Gpt2Config;
const llamaE = decodeModelConfig({ model_type: 'llama', vocab_size: 40, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 96 });
if (E.isLeft(llamaE)) throw new Error(llamaE.left);
const llama = llamaE.right as CausalLmConfig;

const randomParams = (cfg: CausalLmConfig, seed: number): Record<string, HostTensor> => {
  const r = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return Object.fromEntries(Object.entries(modelParamShapes(cfg)).map(([n, s]) => {
    const k = s.reduce((a, b) => a * b, 1);
    return [n, f32(s, Array.from({ length: k }, () => (/(ln_|norm)/.test(n) && n.endsWith('weight') ? 1 : 0.4 * gauss())))];
  }));
};

describe('appendStepGraph on onnxruntime', () => {
  for (const cfg of [gpt2, llama]) {
    it(`${cfg.model_type}: no node copies the cache; outputs equal the reference with junk in the free positions`, async () => {
      const g = appendStepGraph(cfg);
      const L = 2;
      assert.equal(concatsReading(g, 'past_key_values.'), 0);
      // the cache is read by the attention products only (and its shape by Shape)
      const readers = lowerGraph(g).model.graph.nodes.filter((n) => n.inputs.some((i) => i.startsWith('past_key_values.')));
      assert.deepEqual([...new Set(readers.map((n) => n.opType))].sort(), ['MatMul', 'Shape']);
      assert.equal(readers.filter((n) => n.opType === 'MatMul').length, 2 * L);
      const r = rng(3);
      const [R, C] = [3, 7];
      const heads = cfg.model_type === 'gpt2' ? cfg.n_head : cfg.num_key_value_heads;
      const D = cfg.model_type === 'gpt2' ? cfg.n_embd / cfg.n_head : cfg.head_dim;
      const feeds: Record<string, HostTensor> = {
        input_ids: { dtype: 'int32', shape: [R, 1], data: Int32Array.from([5, 9, 1]) },
        position_ids: { dtype: 'int32', shape: [R, 1], data: Int32Array.from([4, 6, 2]) },
      };
      for (let l = 0; l < L; l++) {
        feeds[`past_key_values.${l}.key`] = f32([R, heads, C, D], Array.from({ length: R * heads * C * D }, () => 2 * r() - 1));
        feeds[`past_key_values.${l}.value`] = f32([R, heads, C, D], Array.from({ length: R * heads * C * D }, () => 2 * r() - 1));
        feeds[`attention_mask.${l}`] = { dtype: 'bool', shape: [R, C + 1], data: Uint8Array.from({ length: R * (C + 1) }, (_, i) => (i % (C + 1) === C || (i % (C + 1) < 4 && r() < 0.7) ? 1 : 0)) };
      }
      await agree(g, { feeds, params: randomParams(cfg, 11) }, { rtol: 1e-4, atol: 1e-5 });
    });
  }
});

describe('causalDecoder on onnxruntime', () => {
  it('greedy (left-padded rows with a prefix bank; also 6 tokens per run) and beam search choose the reference backend tokens, 40 steps past the first capacity', async () => {
    for (const cfg of [gpt2, llama]) {
      const inj = inject(modelSites(cfg), { kind: 'prefix', length: 3 }, { users: 2, mode: 'stored' });
      const bank = inj.trainable[0]!;
      const r = rng(5);
      const params = { ...randomParams(cfg, 7), [bank.name]: f32(bank.shape, Array.from({ length: bank.shape.reduce((a, b) => a * b, 1) }, () => 2 * r() - 1)) };
      const prompts = [[1, 5, 9, 2, 7], [8, 1], [11, 4, 6]];
      const userIds = [1, 0, 1];
      const run = async (backend: Parameters<typeof causalDecoder>[0]) => {
        const dec = await causalDecoder(backend, cfg, params, inj);
        try {
          const greedy = await greedyOrSample(await dec.start(prompts, { userIds }), prompts, { maxNewTokens: 40 });
          // 6 tokens per run (greedyStepsGraph): the same tokens, 40 = 6·6 + 4 (a shorter last run)
          const chunked = await greedyOrSample(await dec.start(prompts, { userIds }), prompts, { maxNewTokens: 40, tokensPerRun: 6 });
          const beams = await beamSearch(await dec.start(prompts, { userIds, beams: 3 }), prompts, { maxNewTokens: 24, numBeams: 3, earlyStopping: 'never' });
          return { greedy: greedy.tokens, chunked: chunked.tokens, beams: beams.tokens, scores: beams.scores, greedyScores: greedy.scores, chunkedScores: chunked.scores };
        } finally {
          await dec.dispose();
        }
      };
      const want = await run(referenceBackend());
      const got = await run(onnxBackend({ intraOpNumThreads: 1 }));
      assert.deepEqual(got.greedy, want.greedy, `${cfg.model_type} greedy`);
      assert.deepEqual(got.chunked, got.greedy, `${cfg.model_type} greedy, 6 tokens per run`);
      got.chunkedScores.forEach((s, i) => assert.ok(Math.abs(s - got.greedyScores[i]!) < 1e-4, `${cfg.model_type} chunked score ${i}: ${s} vs ${got.greedyScores[i]}`));
      assert.deepEqual(got.beams, want.beams, `${cfg.model_type} beams`);
      got.scores.forEach((s, i) => assert.ok(Math.abs(s - want.scores[i]!) < 1e-4, `${cfg.model_type} beam score ${i}: ${s} vs ${want.scores[i]}`));
      assert.notDeepEqual(got.greedy[0], got.greedy[1], 'rows differ');
    }
  });
});
