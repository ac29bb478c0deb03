/**
 * Composing a custom tuning variant in a few lines: a *low-rank* prefix, P = U·V with
 * U [P, r] and V [r, 2·L·d], registered as a parametrisation and composed with the paper's
 * embedding-only ablation. Runs on the reference evaluator with a small random GPT-2.
 *
 *   node --import tsx examples/low-rank-prefix.ts
 */
import { type Parametrisation } from '@prefix-tuning/core/prefix';
import {
  type Variant, inject, modelSites, injectedTrainGraph, decodeModelConfig, modelParamShapes, referenceBackend, train, Sampler, type HostTensor, type CausalLmConfig
} from '@prefix-tuning/core';
import { matmul } from '@prefix-tuning/core/graph';
import * as E from 'fp-ts/lib/Either.js';

/** The variant: activations = U·V with a rank-r bottleneck (r·(P + 2·L·d) parameters). */
export const lowRank: Parametrisation = {
  params: (g, options) => {
    const r = (options as { rank: number }).rank;
    return [
      { name: `${g.scope}.U`, shape: [g.length, r], init: { kind: 'normal', std: 1 }, decay: true },
      { name: `${g.scope}.V`, shape: [r, g.width], init: { kind: 'normal', std: 1 / Math.sqrt(r) }, decay: true },
    ];
  },
  build: (g, options, param) => {
    const r = (options as { rank: number }).rank;
    return matmul(param(`${g.scope}.U`, [g.length, r]), param(`${g.scope}.V`, [r, g.width])); // [P, W]
  },
};

export const variant: Variant = {
  kind: 'compose',
  parts: [
    { kind: 'prefix', length: 4, reparam: { kind: 'custom', name: 'low-rank', options: { rank: 2 } } },
    { kind: 'embedding', length: 2 },
  ],
};

const main = async (): Promise<void> => {
  const cfg = decodeModelConfig({ model_type: 'gpt2', vocab_size: 32, n_positions: 32, n_embd: 16, n_layer: 2, n_head: 2 });
  if (E.isLeft(cfg)) throw new Error(cfg.left);
  const model = cfg.right as CausalLmConfig;
  const inj = inject(modelSites(model), variant, { parametrisations: { 'low-rank': lowRank } });
  console.log('trainable:', inj.trainable.map((p) => `${p.name} [${p.shape.join(',')}]`).join(', '));
  const s = new Sampler(0);
  const rand = (shape: readonly number[], std: number): HostTensor =>
    ({ dtype: 'float32', shape: [...shape], data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => s.normal() * std) });
  const frozen = Object.fromEntries(Object.entries(modelParamShapes(model)).map(([n, sh]) => [n, rand(sh, 0.8)]));
  const init = Object.fromEntries(inj.trainable.map((p) => [p.name, rand(p.shape, 0.1)]));
  // a toy task: count upwards from a random start
  const ids = (a: number) => [a, a + 1, a + 2, a + 3, a + 4].map((x) => x % 32);
  const batch = (a: number, b: number) => {
    const x = [...ids(a), ...ids(b)];
    const t = (d: number[]): HostTensor => ({ dtype: 'int32', shape: [2, 5], data: Int32Array.from(d) });
    return { feeds: { input_ids: t(x), attention_mask: t(x.map(() => 1)), labels: t(x) }, tokens: 8 };
  };
  const loss = injectedTrainGraph(model, inj, { loss: 'mean' }).outputs['loss']!;
  const losses: number[] = [];
  await train({
    backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen,
    trainBatches: [batch(1, 7), batch(3, 11), batch(20, 5), batch(9, 14)],
    config: { epochs: 15, seed: 1, schedule: { lr: 0.3, warmupSteps: 2, decay: 'linear' }, optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 } },
    hooks: { onStep: (m) => { losses.push(m.loss); } },
  });
  console.log(`loss: first epoch ${(losses.slice(0, 4).reduce((a, b) => a + b) / 4).toFixed(3)}, last epoch ${(losses.slice(-4).reduce((a, b) => a + b) / 4).toFixed(3)}`);
};

if (import.meta.url === `file://${process.argv[1]}`) await main();
