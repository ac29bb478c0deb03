/**
 * Train-step graphs: AdamW equals an independent scalar implementation of the published
 * algorithms (torch.optim.AdamW; transformers' legacy AdamW), clipping equals PyTorch's
 * clip_grad_norm_, a train step on the reference backend updates with the analytic gradient
 * and reduces a loss, and gradient accumulation over k micro-batches equals one step on the
 * whole batch.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { input, param, matmul, sub, mul, reduceSum, reduceMean } from '../../src/graph.ts';
import { graph, build, GraphError } from '../../src/index.ts';
import { evaluate, referenceBackend } from '../../src/backend/reference.ts';
import { f32, type HostTensor } from '../../src/backend/tensor.ts';
import {
  adamwUpdate, clipByGlobalNorm, trainStepGraph, trainState, trainStateNames, trainInternalOutputs, trainNames, unrollTrainSteps, type AdamWConfig,
} from '../../src/train/index.ts';
import { graphInputs } from '../../src/ir/graph.ts';
import { dimToString } from '../../src/types/dim.ts';

// Fed tensors are float32 (the oracles round fed values with `fr`); the reference evaluator
// computes in float64 with the graph's constants as written.
const fr = Math.fround;

/** torch.optim.AdamW, one scalar parameter, written from the PyTorch documentation's pseudocode. */
const torchAdamW = (p: number, g: number, m: number, v: number, t: number, lr: number, c: AdamWConfig, decay: boolean) => {
  let theta = decay ? p - fr(lr) * c.weightDecay * p : p;
  const m1 = c.beta1 * m + (1 - c.beta1) * g;
  const v1 = c.beta2 * v + (1 - c.beta2) * g * g;
  const mhat = m1 / (1 - c.beta1 ** t);
  const vhat = v1 / (1 - c.beta2 ** t);
  theta -= (fr(lr) * mhat) / (Math.sqrt(vhat) + c.eps);
  return { p: theta, m: m1, v: v1 };
};

/** transformers.AdamW (correct_bias=True), from its source's documented update order. */
const hfAdamW = (p: number, g: number, m: number, v: number, t: number, lr: number, c: AdamWConfig, decay: boolean) => {
  const m1 = c.beta1 * m + (1 - c.beta1) * g;
  const v1 = c.beta2 * v + (1 - c.beta2) * g * g;
  const stepSize = (fr(lr) * Math.sqrt(1 - c.beta2 ** t)) / (1 - c.beta1 ** t);
  let theta = p - (stepSize * m1) / (Math.sqrt(v1) + c.eps);
  if (decay && c.weightDecay > 0) theta -= fr(lr) * c.weightDecay * theta;
  return { p: theta, m: m1, v: v1 };
};

const close = (a: number, b: number, tol: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

const vec = (n: number) => fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: n, maxLength: n });

describe('adamwUpdate', () => {
  for (const flavor of ['torch', 'hf'] as const) {
    it(`equals the ${flavor} algorithm over several steps (decay on and off)`, () =>
      fc.assert(
        fc.property(
          vec(3), fc.array(vec(3), { minLength: 1, maxLength: 4 }), fc.double({ min: 1e-4, max: 0.1, noNaN: true }),
          fc.double({ min: 0, max: 0.3, noNaN: true }), fc.boolean(),
          (p0, gs, lr, wd, decay) => {
            const cfg: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: wd, flavor };
            const p = param('p', [3]);
            const upd = adamwUpdate({
              params: [p], grads: [input('g', [3])], m: [param('m', [3])], v: [param('v', [3])],
              step: input('step', []), lr: input('lr', []), config: cfg, decayMask: [decay],
            });
            const g = graph({ p: upd.params[0]!, m: upd.m[0]!, v: upd.v[0]! });
            let state = { p: f32([3], p0), m: f32([3], [0, 0, 0]), v: f32([3], [0, 0, 0]) };
            let want = p0.map((x) => ({ p: fr(x), m: 0, v: 0 }));
            gs.forEach((grad, k) => {
              const out = evaluate(g, { g: f32([3], grad), step: f32([], [k + 1]), lr: f32([], [lr]) }, state, { precision: 'f64' });
              const algo = flavor === 'torch' ? torchAdamW : hfAdamW;
              want = want.map((s, i) => algo(s.p, fr(grad[i]!), s.m, s.v, k + 1, lr, cfg, decay));
              want.forEach((s, i) => {
                close(out['p']!.data[i] as number, s.p, 1e-9, `p[${i}] after step ${k + 1}`);
                close(out['m']!.data[i] as number, s.m, 1e-9, `m[${i}]`);
                close(out['v']!.data[i] as number, s.v, 1e-9, `v[${i}]`);
              });
              state = { p: out['p']!, m: out['m']!, v: out['v']! };
            });
          },
        ),
        { numRuns: 40 },
      ));
  }
});

describe('clipByGlobalNorm', () => {
  it('norm = sqrt(sum of squares); gradients scaled by min(1, max / (norm + 1e-6))', () =>
    fc.assert(
      fc.property(vec(4), vec(2), fc.double({ min: 0.01, max: 5, noNaN: true }), (a, b, maxNorm) => {
        const { grads, norm } = clipByGlobalNorm([input('a', [4]), input('b', [2, 1])], maxNorm);
        const out = evaluate(graph({ n: norm, a: grads[0]!, b: grads[1]! }), { a: f32([4], a), b: f32([2, 1], b) }, {}, { precision: 'f64' });
        const n = Math.sqrt([...a, ...b].reduce((s, x) => s + fr(x) * fr(x), 0));
        close(out['n']!.data[0] as number, n, 1e-12, 'norm');
        const coef = Math.min(1, maxNorm / (n + 1e-6));
        a.forEach((x, i) => close(out['a']!.data[i] as number, fr(x) * coef, 1e-12, `a[${i}]`));
        b.forEach((x, i) => close(out['b']!.data[i] as number, fr(x) * coef, 1e-12, `b[${i}]`));
      }),
    ));
});

// Linear regression: loss = sum((x @ w - y)^2) (or its mean); d loss / d w = 2 x^T (x w - y).
const regression = (reduction: 'sum' | 'mean') => {
  const x = input('x', ['N', 3]);
  const y = input('y', ['N', 1]);
  const w = param('w', [3, 1]);
  const r = sub(matmul(x, w), y);
  const loss = reduction === 'sum' ? reduceSum(mul(r, r)) : reduceMean(mul(r, r));
  return { loss, w };
};

const batch = (rows: readonly (readonly number[])[], targets: readonly number[]): Record<string, HostTensor> => ({
  x: f32([rows.length, 3], rows.flat()),
  y: f32([targets.length, 1], targets),
});

describe('trainStepGraph', () => {
  const cfg: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

  it('names its inputs, state and outputs; rejects unknown trainables', () => {
    const { loss } = regression('sum');
    const g = trainStepGraph(loss, [{ name: 'w' }], cfg);
    assert.deepEqual(Object.keys(g.outputs).sort(), ['grad_norm', 'loss', 'w:m:new', 'w:new', 'w:v:new']);
    assert.deepEqual(trainInternalOutputs(g).sort(), ['w:m:new', 'w:new', 'w:v:new']);
    const bad = build(() => trainStepGraph(loss, [{ name: 'nope' }], cfg));
    assert.ok(E.isLeft(bad) && bad.left instanceof GraphError && /nope/.test(bad.left.message));
  });

  it('one step on the reference backend applies AdamW to the analytic gradient', async () => {
    const { loss } = regression('sum');
    const g = trainStepGraph(loss, [{ name: 'w', decay: true }], { ...cfg, maxGradNorm: 1e9 });
    const w0 = [0.5, -0.25, 1];
    const rows = [[1, 2, 3], [0, -1, 0.5]];
    const ys = [1, -2];
    const ex = await referenceBackend({ precision: 'f64' }).compile(g, { state: trainState([{ name: 'w' }], { w: f32([3, 1], w0) }, cfg) });
    const out = await ex.run({ ...batch(rows, ys), lr: f32([], [0.1]), step: f32([], [1]) });
    // analytic gradient 2 x^T (x w - y)
    const res = rows.map((r, i) => r.reduce((s, v, j) => s + v * w0[j]!, 0) - ys[i]!);
    const gw = [0, 1, 2].map((j) => 2 * rows.reduce((s, r, i) => s + r[j]! * res[i]!, 0));
    close(out['loss']!.data[0] as number, res.reduce((s, r) => s + r * r, 0), 1e-12, 'loss');
    close(out['grad_norm']!.data[0] as number, Math.hypot(...gw), 1e-12, 'grad_norm');
    const w1 = await ex.readState('w');
    w0.forEach((p, j) => close(w1.data[j] as number, torchAdamW(p, gw[j]!, 0, 0, 1, 0.1, cfg, true).p, 1e-9, `w[${j}]`));
  });

  it('reduces the loss over steps', async () => {
    const { loss } = regression('mean');
    const g = trainStepGraph(loss, [{ name: 'w' }], cfg);
    const ex = await referenceBackend().compile(g, { state: trainState([{ name: 'w' }], { w: f32([3, 1], [0, 0, 0]) }, cfg), internalOutputs: trainInternalOutputs(g) });
    const rows = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]];
    const ys = rows.map((r) => 2 * r[0]! - r[1]! + 0.5 * r[2]!);
    const losses: number[] = [];
    for (let s = 1; s <= 60; s++) losses.push((await ex.run({ ...batch(rows, ys), lr: f32([], [0.1]), step: f32([], [s]) }))['loss']!.data[0] as number);
    assert.ok(losses[59]! < 0.05 * losses[0]!, `loss ${losses[0]} -> ${losses[59]}`);
  });

  for (const average of [true, false])
    it(`accumulating k micro-batches equals one step on the whole batch (${average ? 'mean loss, averaged' : 'sum loss, summed'})`, () =>
      fc.assert(
        fc.asyncProperty(fc.integer({ min: 2, max: 3 }), fc.array(vec(4), { minLength: 6, maxLength: 6 }), async (k, data) => {
          // k micro-batches of 6/k... use 6 rows split evenly for k in {2, 3}
          const rows = data.map((d) => d.slice(0, 3));
          const ys = data.map((d) => d[3]!);
          const reduction = average ? 'mean' : 'sum';
          const init = { w: f32([3, 1], [0.3, -0.2, 0.1]) };
          const whole = trainStepGraph(regression(reduction).loss, [{ name: 'w' }], cfg);
          const exW = await referenceBackend({ precision: 'f64' }).compile(whole, { state: trainState([{ name: 'w' }], init, cfg) });
          const outW = await exW.run({ ...batch(rows, ys), lr: f32([], [0.05]), step: f32([], [1]) });
          const acc: AdamWConfig = { ...cfg, accumulation: k, averageAccumulated: average };
          const micro = trainStepGraph(regression(reduction).loss, [{ name: 'w' }], acc);
          const exM = await referenceBackend({ precision: 'f64' }).compile(micro, { state: trainState([{ name: 'w' }], init, acc) });
          const size = 6 / k;
          let last: Record<string, HostTensor> = {};
          for (let i = 0; i < k; i++) {
            last = await exM.run({ ...batch(rows.slice(i * size, (i + 1) * size), ys.slice(i * size, (i + 1) * size)), lr: f32([], [0.05]), step: f32([], [1]), apply: f32([], [i === k - 1 ? 1 : 0]) });
            if (i < k - 1) assert.deepEqual([...(await exM.readState('w')).data].map(Number), [...init.w.data].map(Number), 'no update before apply');
          }
          const wW = await exW.readState('w');
          const wM = await exM.readState('w');
          for (let j = 0; j < 3; j++) close(wM.data[j] as number, wW.data[j] as number, 1e-9, `w[${j}]`);
          close(last['grad_norm']!.data[0] as number, outW['grad_norm']!.data[0] as number, 1e-9, 'grad_norm');
          assert.ok((await exM.readState(trainNames.acc('w'))).data.every((v) => v === 0), 'accumulator reset after apply');
        }),
        { numRuns: 20 },
      ));
});

describe('unrollTrainSteps', () => {
  const cfg: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };

  it('gives each step its own inputs and sizes, and outputs every step\'s loss and the last state', () => {
    const step = trainStepGraph(regression('mean').loss, [{ name: 'w' }], cfg);
    assert.equal(unrollTrainSteps(step, [{ name: 'w' }], cfg, 1), step);
    const g = unrollTrainSteps(step, [{ name: 'w' }], cfg, 3);
    const inputs = graphInputs(g).map((n) => `${n.attrs.name}${JSON.stringify(n.shape.map(dimToString))}`).sort();
    assert.deepEqual(inputs, ['lr@1[]', 'lr@2[]', 'lr[]', 'step@1[]', 'step@2[]', 'step[]', 'x@1["N_1","3"]', 'x@2["N_2","3"]', 'x["N","3"]', 'y@1["N_1","1"]', 'y@2["N_2","1"]', 'y["N","1"]']);
    assert.deepEqual(Object.keys(g.outputs).sort(), ['grad_norm', 'grad_norm@1', 'grad_norm@2', 'loss', 'loss@1', 'loss@2', 'w:m:new', 'w:new', 'w:v:new']);
    assert.deepEqual(trainInternalOutputs(g).sort(), ['w:m:new', 'w:new', 'w:v:new']);
    assert.throws(() => unrollTrainSteps(step, [{ name: 'w' }], cfg, 0), /positive integer/);
  });

  it('one run of n unrolled steps = n runs of the step (batches of different sizes, with and without accumulation)', () =>
    fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }),
        fc.array(fc.array(vec(4), { minLength: 1, maxLength: 4 }), { minLength: 3, maxLength: 3 }),
        async (n, k, data) => {
          const opt: AdamWConfig = { ...cfg, ...(k > 1 ? { accumulation: k } : {}) };
          const trainable = [{ name: 'w' }];
          const init = { w: f32([3, 1], [0.3, -0.2, 0.1]) };
          const step = trainStepGraph(regression('mean').loss, trainable, opt);
          const feedsOf = (i: number): Record<string, HostTensor> => ({
            ...batch(data[i]!.map((d) => d.slice(0, 3)), data[i]!.map((d) => d[3]!)),
            lr: f32([], [0.05 * (i + 1)]), step: f32([], [1 + Math.floor(i / k)]), ...(k > 1 ? { apply: f32([], [i % k === k - 1 ? 1 : 0]) } : {}),
          });
          const one = await referenceBackend({ precision: 'f64' }).compile(step, { state: trainState(trainable, init, opt) });
          const want: number[] = [];
          for (let i = 0; i < n; i++) {
            const o = await one.run(feedsOf(i));
            want.push(o['loss']!.data[0] as number, o['grad_norm']!.data[0] as number);
          }
          const g = unrollTrainSteps(step, trainable, opt, n);
          const all = await referenceBackend({ precision: 'f64' }).compile(g, { state: trainState(trainable, init, opt), internalOutputs: trainInternalOutputs(g) });
          const feeds: Record<string, HostTensor> = {};
          for (let i = 0; i < n; i++) for (const [name, t] of Object.entries(feedsOf(i))) feeds[trainNames.at(name, i)] = t;
          const o = await all.run(feeds);
          const got = Array.from({ length: n }, (_, i) => [o[trainNames.at('loss', i)]!.data[0] as number, o[trainNames.at('grad_norm', i)]!.data[0] as number]).flat();
          got.forEach((v, i) => close(v, want[i]!, 1e-12, `output ${i}`));
          for (const name of trainStateNames(trainable, opt)) {
            const [a, b] = [await all.readState(name), await one.readState(name)];
            for (let j = 0; j < a.data.length; j++) close(a.data[j] as number, b.data[j] as number, 1e-12, `${name}[${j}]`);
          }
        },
      ),
      { numRuns: 25 },
    ));
});
