/**
 * The train step on ONNX Runtime follows the reference evaluator: prefix-tuning a tiny GPT-2
 * (MLP reparametrisation, AdamW with decay masks, clipping) gives the same loss curve for 20
 * steps within 1e-4 relative, the same gradient norms, and the same parameters; gradient
 * accumulation inside the graph agrees too. Trainable state stays on the ORT side between
 * steps (only `loss` and `grad_norm` are fetched).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import {
  type HostTensor, type Gpt2Config, type Backend, decodeModelConfig, modelParamShapes, inject, modelSites, injectedTrainGraph, referenceBackend, f32, i32
} from '@prefix-tuning/core';
import { type ParamSpec } from '@prefix-tuning/core/prefix';
import { trainStepGraph, trainState, trainInternalOutputs, trainNames, unrollTrainSteps, type AdamWConfig } from '../../core/src/train/index.ts';
import { onnxBackend } from '../src/index.ts';
import { rng } from './support.ts';

const cfgE = decodeModelConfig({ model_type: 'gpt2', vocab_size: 64, n_positions: 64, n_embd: 16, n_layer: 2, n_head: 2, activation_function: 'gelu_new' });
if (E.isLeft(cfgE)) throw new Error(cfgE.left);
const cfg = cfgE.right as Gpt2Config;

const gauss = (r: () => number): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());

const modelParams = (seed: number): Record<string, HostTensor> => {
  const r = rng(seed);
  return Object.fromEntries(Object.entries(modelParamShapes(cfg)).map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const ln = /ln_|ln_f/.test(name);
    const data = Float32Array.from({ length: n }, () => (ln && name.endsWith('weight') ? 1 : ln ? 0 : 0.2 * gauss(r)));
    return [name, f32(shape, data)];
  }));
};

const initTrainable = (specs: readonly ParamSpec[], seed: number): Record<string, HostTensor> => {
  const r = rng(seed);
  return Object.fromEntries(specs.map((s) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const init = s.init;
    const data = Float32Array.from({ length: n }, () =>
      init.kind === 'normal' ? init.std * gauss(r) : init.kind === 'uniform' ? init.bound * (2 * r() - 1) : 0);
    return [s.name, f32(s.shape, data)];
  }));
};

/** Random batches: ids, a right-padding mask and labels (-100 at padding). */
const batches = (n: number, B: number, T: number, seed: number): Record<string, HostTensor>[] => {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const len = Array.from({ length: B }, () => 2 + Math.floor(r() * (T - 1)));
    const ids = Array.from({ length: B * T }, (_, i) => ((i % T) < len[Math.floor(i / T)]! ? Math.floor(r() * cfg.vocab_size) : 0));
    const mask = ids.map((_, i) => ((i % T) < len[Math.floor(i / T)]! ? 1 : 0));
    return { input_ids: i32([B, T], ids), attention_mask: i32([B, T], mask), labels: i32([B, T], ids.map((t, i) => (mask[i] ? t : -100))) };
  });
};

const setup = (opt: AdamWConfig, loss: 'mean' | 'sum') => {
  const inj = inject(modelSites(cfg), { kind: 'prefix', length: 4, reparam: { kind: 'mlp', hidden: 8 } });
  const lossGraph = injectedTrainGraph(cfg, inj, { loss });
  const g = trainStepGraph(lossGraph.outputs['loss']!, inj.trainable, opt);
  return { inj, g };
};

const run = async (backend: Backend, opt: AdamWConfig, loss: 'mean' | 'sum', feeds: Record<string, HostTensor>[], extra: (i: number) => Record<string, HostTensor>) => {
  const { inj, g } = setup(opt, loss);
  const ex = await backend.compile(g, {
    params: modelParams(1),
    state: trainState(inj.trainable, initTrainable(inj.trainable, 2), opt),
    internalOutputs: trainInternalOutputs(g),
  });
  const losses: number[] = [];
  const norms: number[] = [];
  for (const [i, b] of feeds.entries()) {
    const out = await ex.run({ ...b, ...extra(i) });
    assert.deepEqual(Object.keys(out).sort(), ['grad_norm', 'loss'], 'only loss and grad_norm come back');
    losses.push(out['loss']!.data[0] as number);
    norms.push(out['grad_norm']!.data[0] as number);
  }
  const finalState = Object.fromEntries(await Promise.all(inj.trainable.map(async (s) => [s.name, await ex.readState(s.name)] as const)));
  await ex.dispose();
  return { losses, norms, finalState };
};

const relClose = (what: string, a: readonly number[], b: readonly number[], rtol: number): void => {
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) <= rtol * Math.max(Math.abs(b[i]!), 1e-6), `${what}[${i}]: onnx ${x} vs reference ${b[i]} (rel ${Math.abs(x - b[i]!) / Math.abs(b[i]!)})`));
};

describe('prefix-tuning train step: onnx vs reference', () => {
  const opt: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };

  for (const loss of ['mean', 'sum'] as const)
    it(`20 steps: loss curve, gradient norms and final parameters agree (${loss} loss)`, async () => {
      const feeds = batches(20, 3, 7, 3);
      const lr = (i: number) => ({ lr: f32([], [loss === 'mean' ? 5e-3 : 1e-3]), step: f32([], [i + 1]) });
      const onnx = await run(onnxBackend({ intraOpNumThreads: 1 }), opt, loss, feeds, lr);
      const ref = await run(referenceBackend(), opt, loss, feeds, lr);
      relClose('loss', onnx.losses, ref.losses, 1e-4);
      relClose('grad_norm', onnx.norms, ref.norms, 1e-4);
      assert.ok(onnx.losses[19]! < onnx.losses[0]! || loss === 'sum', 'the loss goes down on repeated structure');
      for (const [name, t] of Object.entries(ref.finalState)) {
        const o = onnx.finalState[name]!;
        let d = 0;
        for (let i = 0; i < t.data.length; i++) d = Math.max(d, Math.abs((o.data[i] as number) - (t.data[i] as number)));
        assert.ok(d < 1e-4, `${name}: max |diff| ${d}`);
      }
    });

  it('gradient accumulation in the graph (2 micro-batches per update) agrees', async () => {
    const acc: AdamWConfig = { ...opt, accumulation: 2 };
    const feeds = batches(8, 2, 6, 5);
    const extra = (i: number) => ({ lr: f32([], [5e-3]), step: f32([], [Math.floor(i / 2) + 1]), apply: f32([], [i % 2]) });
    const onnx = await run(onnxBackend({ intraOpNumThreads: 1 }), acc, 'mean', feeds, extra);
    const ref = await run(referenceBackend(), acc, 'mean', feeds, extra);
    relClose('loss', onnx.losses, ref.losses, 1e-4);
    relClose('grad_norm', onnx.norms.filter((_, i) => i % 2 === 1), ref.norms.filter((_, i) => i % 2 === 1), 1e-4);
  });
});

describe('unrolled train steps on onnxruntime', () => {
  it('4 steps in one run (batches of different lengths: their own dim_params) = 4 runs of the step', async () => {
    const opt: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
    const { inj, g } = setup(opt, 'mean');
    const feeds = [7, 5, 9, 6].map((T, i) => ({ ...batches(1, 3, T, 10 + i)[0]!, lr: f32([], [5e-3]), step: f32([], [i + 1]) }));
    const compile = (graph: typeof g) => onnxBackend({ intraOpNumThreads: 1 }).compile(graph, {
      params: modelParams(1), state: trainState(inj.trainable, initTrainable(inj.trainable, 2), opt), internalOutputs: trainInternalOutputs(graph),
    });
    const one = await compile(g);
    const want: number[] = [];
    for (const f of feeds) {
      const o = await one.run(f);
      want.push(o['loss']!.data[0] as number, o['grad_norm']!.data[0] as number);
    }
    const unrolled = unrollTrainSteps(g, inj.trainable, opt, 4);
    const all = await compile(unrolled);
    const o = await all.run(Object.fromEntries(feeds.flatMap((f, j) => Object.entries(f).map(([k, t]) => [trainNames.at(k, j), t]))));
    assert.deepEqual(Object.keys(o).sort(), ['grad_norm', 'grad_norm@1', 'grad_norm@2', 'grad_norm@3', 'loss', 'loss@1', 'loss@2', 'loss@3']);
    relClose('loss, grad_norm', [0, 1, 2, 3].flatMap((j) => [o[trainNames.at('loss', j)]!.data[0] as number, o[trainNames.at('grad_norm', j)]!.data[0] as number]), want, 1e-5);
    for (const s of inj.trainable) {
      const [a, b] = [await all.readState(s.name), await one.readState(s.name)];
      let d = 0;
      for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs((a.data[i] as number) - (b.data[i] as number)));
      assert.ok(d < 1e-6, `${s.name}: max |diff| ${d}`);
    }
    await one.dispose();
    await all.dispose();
  });
});
