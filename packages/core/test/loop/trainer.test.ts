import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceBackend } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { train, learningRate, epochOrder, type Batch, type TrainState, type TrainerConfig } from '../../src/loop/trainer.ts';
import { inject } from '../../src/prefix/inject.ts';
import { injectedTrainGraph, modelSites } from '../../src/prefix/graphs.ts';
import { Sampler } from '../../src/random.ts';
import { decodeOk, randomParams } from '../models/random.ts';
import type { CausalLmConfig } from '../../src/models/index.ts';

const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 13, n_positions: 16, n_embd: 8, n_layer: 2, n_head: 2 }) as CausalLmConfig;
const i32 = (shape: number[], data: number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });

/** A learnable toy task: the target is the source shifted by one token id. */
const batches = (n: number, seed: number): Batch[] => {
  const s = new Sampler(seed);
  return Array.from({ length: n }, () => {
    const ids: number[] = [];
    for (let r = 0; r < 2; r++) { const a = s.int(10); ids.push(a, (a + 1) % 10, (a + 2) % 10, (a + 3) % 10); }
    return { feeds: { input_ids: i32([2, 4], ids), attention_mask: i32([2, 4], Array(8).fill(1)), labels: i32([2, 4], ids) }, tokens: 6 };
  });
};

const setup = () => {
  const inj = inject(modelSites(cfg), { kind: 'prefix', length: 2, reparam: { kind: 'mlp', hidden: 6 } });
  const loss = injectedTrainGraph(cfg, inj, { loss: 'mean' }).outputs['loss']!;
  const s = new Sampler(3);
  const init = Object.fromEntries(inj.trainable.map((p) => [p.name, {
    dtype: 'float32' as const, shape: [...p.shape], data: Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => s.normal() * 0.1),
  }]));
  return { inj, loss, init, frozen: randomParams(cfg, 1) };
};

const config: TrainerConfig = {
  epochs: 3, seed: 11, checkpointEvery: 2,
  schedule: { lr: 0.05, warmupSteps: 2, decay: 'linear' },
  optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 },
};

test('learning rate: linear warmup then linear decay to zero (transformers schedule)', () => {
  const s = { lr: 1, warmupSteps: 4, decay: 'linear' as const };
  assert.deepEqual([1, 2, 3, 4, 5].map((t) => learningRate(s, t, 12)), [0, 0.25, 0.5, 0.75, 1]);
  assert.equal(learningRate(s, 12, 12), 1 / 8);
  assert.equal(learningRate({ ...s, decay: 'constant' }, 9, 12), 1);
});

test('epoch order is a permutation that depends only on (seed, epoch)', () => {
  const a = epochOrder(5, 2, 20);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  assert.deepEqual(a, epochOrder(5, 2, 20));
  assert.notDeepEqual(a, epochOrder(5, 3, 20));
});

test('training a prefix on the reference backend lowers the loss', async () => {
  const { inj, loss, init, frozen } = setup();
  const losses: number[] = [];
  const r = await train({
    backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen,
    trainBatches: batches(6, 1), devBatches: batches(2, 2), config: { ...config, epochs: 6 },
    hooks: { onStep: (m) => { losses.push(m.loss); } },
  });
  assert.equal(losses.length, 36);
  const first = losses.slice(0, 6).reduce((a, b) => a + b) / 6;
  const last = losses.slice(-6).reduce((a, b) => a + b) / 6;
  assert.ok(last < first * 0.9, `loss ${first} -> ${last}`);
  assert.equal(r.stopped, 'finished');
  assert.deepEqual(Object.keys(r.params).sort(), inj.trainable.map((p) => p.name).sort());
});

test('an interrupted run resumed from its last checkpoint ends with exactly the uninterrupted parameters', async () => {
  const { inj, loss, init, frozen } = setup();
  const base = { backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, trainBatches: batches(5, 4), config: { ...config, optimizer: { ...config.optimizer, accumulation: 2 } } };
  const full = await train(base);
  for (const stopAt of [1, 3, 4, 7, 9]) {
    let calls = 0;
    let last: TrainState | undefined;
    const part = await train({ ...base, hooks: { shouldStop: () => ++calls > stopAt, checkpoint: async (s) => { last = s; } } });
    assert.equal(part.stopped, 'interrupted');
    // a crash loses everything after the last checkpoint: resume from it
    const resumed = await train({ ...base, ...(last ? { resume: last } : {}) });
    for (const p of inj.trainable) assert.deepEqual(resumed.params[p.name]!.data, full.params[p.name]!.data, `stop at ${stopAt}: ${p.name}`);
  }
});

test('stepsPerRun: n micro-batches per backend run give the parameters, losses and checkpoints of one run each', async () => {
  const { inj, loss, init, frozen } = setup();
  // 5 batches: runs of 3 leave a remainder of 2 (a second executable, the state handed over)
  const base = {
    backend: referenceBackend({ precision: 'f64' }), loss, trainable: inj.trainable, init, frozen, trainBatches: batches(5, 4), devBatches: batches(2, 2),
    config: { ...config, optimizer: { ...config.optimizer, accumulation: 2 } },
  };
  const trace = async (stepsPerRun: number) => {
    const steps: number[][] = [];
    const checkpoints: number[] = [];
    const r = await train({ ...base, config: { ...base.config, stepsPerRun }, hooks: {
      onStep: (m) => { steps.push([m.step, m.epoch, m.batch, m.loss, m.gradNorm, m.lr]); },
      checkpoint: async (s) => { checkpoints.push(s.step); },
    } });
    return { r, steps, checkpoints };
  };
  const one = await trace(1);
  // when checkpoints fall: after each run in which an update reaches a multiple of
  // checkpointEvery (2), holding the last update of that run, and at each epoch end
  // (accumulation 2: batches 2, 4 and 5 of an epoch end updates)
  const expectedCheckpoints = (n: number): number[] => {
    const out: number[] = [];
    let updates = 0;
    for (let e = 0; e < config.epochs; e++) {
      const rows = one.steps.filter((r) => r[1] === e);
      for (let b = 0; b < rows.length; b += n) {
        let due = false;
        for (const [step, , batch] of rows.slice(b, b + n)) {
          if (batch! % 2 !== 0 && batch !== rows.length) continue;
          updates = step!;
          if (step! % 2 === 0) due = true;
        }
        if (due) out.push(updates);
      }
      out.push(updates);
    }
    return out;
  };
  assert.deepEqual(one.checkpoints, expectedCheckpoints(1));
  for (const n of [2, 3, 7]) {
    const many = await trace(n);
    assert.equal(many.steps.length, one.steps.length);
    many.steps.forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - one.steps[i]![j]!) <= 1e-12 * Math.max(1, Math.abs(v)), `n=${n} step ${i} field ${j}: ${v} vs ${one.steps[i]![j]}`)));
    for (const p of inj.trainable) {
      const [a, b] = [many.r.params[p.name]!.data, one.r.params[p.name]!.data];
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= 1e-12, `n=${n} ${p.name}[${i}]`);
    }
    // checkpoints due inside a run are written at its end (several due in one run: one write)
    assert.deepEqual(many.checkpoints, expectedCheckpoints(n), `n=${n}`);
  }
});

test('stepsPerRun: a run interrupted between runs and resumed from its checkpoint ends with the uninterrupted parameters', async () => {
  const { inj, loss, init, frozen } = setup();
  const base = { backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, trainBatches: batches(5, 4), config: { ...config, stepsPerRun: 2 } };
  const full = await train(base);
  for (const stopAt of [1, 2, 4]) {
    let calls = 0;
    let last: TrainState | undefined;
    const part = await train({ ...base, hooks: { shouldStop: () => ++calls > stopAt, checkpoint: async (s) => { last = s; } } });
    assert.equal(part.stopped, 'interrupted');
    // resuming with another run length changes nothing either
    const resumed = await train({ ...base, config: { ...base.config, stepsPerRun: 3 }, ...(last ? { resume: last } : {}) });
    for (const p of inj.trainable) assert.deepEqual(resumed.params[p.name]!.data, full.params[p.name]!.data, `stop at ${stopAt}: ${p.name}`);
  }
});

test('stepsPerRun with other inputs and sizes per batch: BART (encoder and decoder lengths) and an infix (source lengths) train the same', async () => {
  const bart = decodeOk({ model_type: 'bart', vocab_size: 13, d_model: 8, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 8, decoder_ffn_dim: 8, max_position_embeddings: 16 });
  const s = new Sampler(9);
  const ids = (n: number) => Array.from({ length: n }, () => 3 + s.int(10));
  const cases = [
    { cfg: bart, variant: { kind: 'prefix' as const, length: 2 }, batch: (S: number, T: number): Batch => ({
      feeds: { input_ids: i32([2, S], ids(2 * S)), attention_mask: i32([2, S], Array(2 * S).fill(1)), labels: i32([2, T], ids(2 * T)) }, tokens: 2 * T }) },
    { cfg, variant: { kind: 'infix' as const, length: 2 }, batch: (S: number, T: number): Batch => ({
      feeds: { source_ids: i32([2, S], ids(2 * S)), source_mask: i32([2, S], Array(2 * S).fill(1)), input_ids: i32([2, T], ids(2 * T)), attention_mask: i32([2, T], Array(2 * T).fill(1)), labels: i32([2, T], ids(2 * T)) }, tokens: 2 * T }) },
  ];
  for (const { cfg: c, variant, batch } of cases) {
    const inj = inject(modelSites(c), variant);
    const loss = injectedTrainGraph(c, inj, { loss: 'mean' }).outputs['loss']!;
    const init = Object.fromEntries(inj.trainable.map((p) => [p.name, {
      dtype: 'float32' as const, shape: [...p.shape], data: Float32Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, () => s.normal() * 0.1),
    }]));
    const trainBatches = [[3, 2], [5, 4], [2, 3], [4, 2], [3, 5]].map(([S, T]) => batch(S!, T!));
    const run = (stepsPerRun: number) => train({
      backend: referenceBackend({ precision: 'f64' }), loss, trainable: inj.trainable, init, frozen: randomParams(c, 2), trainBatches, config: { ...config, epochs: 2, stepsPerRun },
    });
    const [one, three] = [await run(1), await run(3)];
    for (const p of inj.trainable) {
      const [a, b] = [three.params[p.name]!.data, one.params[p.name]!.data];
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) <= 1e-12, `${c.model_type} ${variant.kind}: ${p.name}[${i}]`);
      assert.ok([...a].some((v, i) => v !== init[p.name]!.data[i]), 'the parameters moved');
    }
  }
});

const finite = (ts: Readonly<Record<string, HostTensor>>): boolean =>
  Object.values(ts).every((t) => t.dtype !== 'float32' || (t.data as Float32Array).every(Number.isFinite));

test('a diverging run (lr 1e30) stops with non-finite, never checkpoints a non-finite state, and returns the last good one', async () => {
  const { inj, loss, init, frozen } = setup();
  const saved: TrainState[] = [];
  const r = await train({
    backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, trainBatches: batches(6, 1),
    config: { ...config, checkpointEvery: 1, schedule: { lr: 1e30, warmupSteps: 0, decay: 'constant' }, optimizer: { ...config.optimizer, maxGradNorm: undefined } },
    hooks: { checkpoint: async (s) => { saved.push(s); } },
  });
  assert.equal(r.stopped, 'non-finite');
  assert.ok(r.nonFinite !== undefined && !Number.isFinite(r.nonFinite.value), JSON.stringify(r.nonFinite));
  assert.ok(saved.every((s) => finite(s.tensors)), 'every checkpoint is finite');
  assert.ok(r.state.step < r.nonFinite!.step || r.nonFinite!.what === 'parameters');
  if (saved.length > 0) assert.equal(r.state, saved.at(-1));
});

test("onNonFinite 'skip': a batch whose loss is NaN is skipped every epoch and its update undone", async () => {
  const { inj, loss, init, frozen: f } = setup();
  // position 5 (past the toy batches' 4 tokens, after the 2 virtual ones) embeds as NaN: a longer batch has a NaN loss
  const wpe = f['wpe.weight']!;
  const data = Float32Array.from(wpe.data as Float32Array);
  data.fill(NaN, 7 * 8, 8 * 8);
  const frozen = { ...f, 'wpe.weight': { ...wpe, data } };
  const good = batches(4, 1);
  const ids = [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6];
  const bad: Batch = { feeds: { input_ids: i32([2, 6], ids), attention_mask: i32([2, 6], Array(12).fill(1)), labels: i32([2, 6], ids) }, tokens: 10 };
  const base = { backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, trainBatches: [...good, bad], config };
  const stop = await train(base);
  assert.equal(stop.stopped, 'non-finite');
  assert.equal(stop.nonFinite!.what, 'loss');
  const skipped: number[] = [];
  const r = await train({ ...base, config: { ...config, onNonFinite: 'skip' }, hooks: { onSkip: (m) => { skipped.push(m.step); } } });
  assert.equal(r.stopped, 'finished');
  assert.equal(skipped.length, config.epochs);
  assert.ok(finite(r.params));
  await assert.rejects(train({ ...base, config: { ...config, onNonFinite: 'skip', stepsPerRun: 2 } }), /needs stepsPerRun 1/);
});

/** A stream over `bs` in this order, counting what it gave. */
const streamOf = (bs: readonly Batch[]) => {
  let i = 0;
  return { next: async () => bs[i++], get read() { return i; } };
};

test('a batch stream trains exactly as array batches fed in the same order, with an LrSchedule function', async () => {
  const { inj, loss, init, frozen } = setup();
  const bs = batches(7, 21);
  const schedule = (step: number) => 0.05 / Math.sqrt(step);
  const seen: number[] = [];
  const cfgStream: TrainerConfig = { ...config, epochs: 1, schedule };
  const viaStream = await train({ backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, trainBatches: streamOf(bs), config: cfgStream, hooks: { onStep: (m) => { seen.push(m.lr); } } });
  // the array's one epoch visits array[order[i]] at position i: put the stream's i-th batch there
  const order = epochOrder(config.seed, 0, bs.length);
  const arr: Batch[] = new Array(bs.length);
  order.forEach((o, i) => { arr[o] = bs[i]!; });
  const viaArray = await train({ backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, trainBatches: arr, config: cfgStream });
  assert.equal(viaStream.stopped, 'finished');
  assert.equal(viaStream.state.step, 7);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6, 7].map(schedule));
  for (const p of inj.trainable) assert.deepEqual(viaStream.params[p.name]!.data, viaArray.params[p.name]!.data, p.name);
  // and not trivially: another order gives other parameters
  const other = await train({ backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, trainBatches: streamOf([...bs].reverse()), config: cfgStream });
  assert.notDeepEqual(other.params[inj.trainable[0]!.name]!.data, viaStream.params[inj.trainable[0]!.name]!.data);
});

test('a stream stopped by shouldStop and resumed with the stream at its checkpoint ends with the uninterrupted parameters; the stream is never read ahead', async () => {
  const { inj, loss, init, frozen } = setup();
  const bs = batches(6, 22);
  const base = { backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, config: { ...config, epochs: 1, schedule: { lr: 0.05, warmupSteps: 1, decay: 'constant' as const } } };
  const full = await train({ ...base, trainBatches: streamOf(bs) });
  for (const stopAt of [1, 4]) {
    const s = streamOf(bs);
    let calls = 0;
    const part = await train({ ...base, trainBatches: s, hooks: { shouldStop: () => ++calls > stopAt } });
    assert.equal(part.stopped, 'interrupted');
    assert.equal(s.read, stopAt, 'the stream gave exactly the batches trained on');
    const rest = await train({ ...base, trainBatches: streamOf(bs.slice(s.read)), resume: part.state });
    for (const p of inj.trainable) assert.deepEqual(rest.params[p.name]!.data, full.params[p.name]!.data, `${p.name} after stopping at ${stopAt}`);
  }
});

test('a stream refuses what it cannot do: several epochs, a linear decay, gradient accumulation', async () => {
  const { inj, loss, init, frozen } = setup();
  const base = { backend: referenceBackend(), loss, trainable: inj.trainable, init, frozen, trainBatches: streamOf(batches(2, 1)) };
  await assert.rejects(train({ ...base, config: { ...config, epochs: 2, schedule: { lr: 0.1, warmupSteps: 0, decay: 'constant' } } }), /read once/);
  await assert.rejects(train({ ...base, config: { ...config, epochs: 1 } }), /linear decay/);
  await assert.rejects(train({ ...base, config: { ...config, epochs: 1, schedule: () => 0.1, optimizer: { ...config.optimizer, accumulation: 2 } } }), /accumulation/);
});
