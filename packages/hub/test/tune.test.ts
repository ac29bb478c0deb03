/**
 * `tune`, the training workflow, as a library call (no files, no CLI): pairs within the position
 * budget, accumulation aggregated into one log record per update, an interrupted run resumed
 * from its stored checkpoint ending exactly as an uninterrupted one (parameters and log), the
 * adapter, refusals naming what does not fit, and a stream (pretraining's path) on the same loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { decodeModelConfig, modelParamShapes, parseAdapter, referenceBackend, Sampler, type HostTensor, type ModelConfig } from '@prefix-tuning/core';
import type { Pair } from '@prefix-tuning/tasks';
import { loadTokenizer } from '../src/tokenizer.ts';
import { memoryStorage } from '../src/run-checkpoint.ts';
import { planTune, tune, TuneError, type TuneSettings } from '../src/tune.ts';
import type { LogRecord } from '../src/run-log.ts';
import { repoRoot } from './paths.ts';

const dir = join(repoRoot, 'models', 'tiny-gpt2-en');
const tok = await loadTokenizer(dir);
if (E.isLeft(tok)) throw new Error(tok.left);
/** A small random GPT-2 with the embedded model's tokenizer (4096 ids): fast on the reference backend. */
const cfgOf = (json: Record<string, unknown>): ModelConfig => {
  const c = decodeModelConfig(json);
  if (E.isLeft(c)) throw new Error(c.left);
  return c.right;
};
const config = cfgOf({ model_type: 'gpt2', vocab_size: 4096, n_positions: 40, n_embd: 8, n_layer: 2, n_head: 2, eos_token_id: 4095 });
const s = new Sampler(5);
const params: Record<string, HostTensor> = Object.fromEntries(Object.entries(modelParamShapes(config)).map(([n, shape]) => [n, {
  dtype: 'float32' as const, shape: [...shape], data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (/ln_/.test(n) && n.endsWith('weight') ? 1 : 0) + s.normal() * 0.3),
}]));
const model = { config, params, tokenizer: tok.right, dir, name: 'tiny-random' };
const pairs = (n: number, from = 0): Pair[] => Array.from({ length: n }, (_, i) => ({ id: String(i + from), source: `name : Pub ${i + from} | food : Thai`, target: `Pub ${i + from} serves Thai food .` }));

const settings: TuneSettings = {
  variant: { kind: 'prefix', length: 3, reparam: { kind: 'mlp', hidden: 8 } }, loss: 'mean', epochs: 2, batchSize: 2, seed: 3,
  schedule: { lr: 0.02, warmupSteps: 1, decay: 'linear' }, checkpointEvery: 2,
  optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, accumulation: 2 },
};
const data = { kind: 'pairs' as const, train: pairs(7), dev: pairs(2, 100), where: 'test pairs' };
const timeless = (r: LogRecord) => ({ ...r, elapsed: 0, ...(r.type === 'step' ? { tokens_per_s: 0 } : {}) });

test('tune: one log record per update (accumulation aggregated) and per epoch, dev loss each epoch, and a PEFT adapter of the base', async () => {
  const records: LogRecord[] = [];
  const r = await tune({ model, data, settings, backend: referenceBackend(), hooks: { onRecord: (x) => { records.push(x); } } });
  assert.equal(r.stopped, 'finished');
  // 7 pairs in batches of 2 -> 4 micro-batches per epoch -> 2 updates per epoch
  assert.deepEqual(records.map((x) => `${x.type}:${x.step}`), ['step:1', 'step:2', 'epoch:2', 'step:3', 'step:4', 'epoch:4']);
  const epochs = records.filter((x): x is Extract<LogRecord, { type: 'epoch' }> => x.type === 'epoch');
  assert.ok(epochs.every((e) => e.dev_loss !== null && Number.isFinite(e.dev_loss)));
  assert.ok(r.adapter?.peft);
  const a = parseAdapter(config, JSON.parse(r.adapter!.bytes.config), r.adapter!.bytes.weights);
  assert.ok(E.isRight(a), E.isLeft(a) ? a.left : '');
  assert.equal(r.adapter!.values, 3 * 2 * 2 * 8); // P x 2 (key, value) x L x d: the MLP is dropped
});

test('tune: a run interrupted anywhere and resumed from its stored checkpoint ends with the uninterrupted parameters and log', async () => {
  const full: LogRecord[] = [];
  const whole = await tune({ model, data, settings, backend: referenceBackend(), hooks: { onRecord: (x) => { full.push(x); } } });
  for (const stopAt of [1, 3, 6]) {
    const storage = memoryStorage();
    const part: LogRecord[] = [];
    let polls = 0;
    const first = await tune({ model, data, settings, backend: referenceBackend(), storage, hooks: { shouldStop: () => ++polls > stopAt, onRecord: (x) => { part.push(x); } } });
    assert.equal(first.stopped, 'interrupted');
    const saved = await storage.load();
    assert.ok(E.isRight(saved) && saved.right !== undefined);
    const cut = part.filter((x) => x.step <= saved.right!.state.step && (x.type === 'step' || x.epoch <= saved.right!.state.epoch));
    const rest = await tune({ model, data, settings, backend: referenceBackend(), storage, resume: saved.right, hooks: { onRecord: (x) => { cut.push(x); } } });
    assert.equal(rest.stopped, 'finished');
    for (const [n, v] of Object.entries(whole.params)) assert.deepEqual(rest.params[n]!.data, v.data, `${n} (stopped after ${stopAt} polls)`);
    assert.deepEqual(cut.map(timeless), full.map(timeless), `log (stopped after ${stopAt} polls)`);
    assert.deepEqual(rest.adapter!.bytes.weights, whole.adapter!.bytes.weights);
  }
});

test('tune refuses, in one line, what does not fit: layers the model lacks, nothing to train, no room for examples, another run\'s checkpoint', async () => {
  const refuse = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof TuneError, String(e));
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
  refuse(() => planTune({ model, data, settings: { ...settings, variant: { kind: 'prefix', length: 2, layers: [5] } } }), /does not fit model 'tiny-random'.*layer 5 out of range/);
  refuse(() => planTune({ model, data, settings: { ...settings, variant: { kind: 'prefix', length: 0 } } }), /nothing to train/);
  refuse(() => planTune({ model, data, settings: { ...settings, variant: { kind: 'prefix', length: 39 } } }), /40 positions and the variant takes 39/);
  refuse(() => planTune({ model, data: { ...data, maxLength: 38 }, settings }), /exceeds the model's 40 positions/);
  const storage = memoryStorage();
  let polls = 0;
  await tune({ model, data, settings, backend: referenceBackend(), storage, hooks: { shouldStop: () => ++polls > 2 } });
  const saved = await storage.load();
  assert.ok(E.isRight(saved) && saved.right !== undefined);
  refuse(() => planTune({ model, data: { ...data, train: pairs(7, 1) }, settings, resume: saved.right! }), /training data differ/);
  refuse(() => planTune({ model, data, settings: { ...settings, variant: { kind: 'prefix', length: 4 } }, resume: saved.right! }), /another variant/);
  refuse(() => planTune({ model: { ...model, params: { ...params, 'h.0.ln_1.bias': params['h.0.ln_1.weight']! } }, data, settings, resume: saved.right! }), /another model/);
});

test('tune on a stream (pretraining\'s path): every weight trained on the one loop, the stream read exactly as far as trained, no adapter', async () => {
  let read = 0;
  const row = (i: number): HostTensor => ({ dtype: 'int32', shape: [2, 6], data: Int32Array.from({ length: 12 }, (_, j) => (i * 7 + j * 3) % 4096) });
  const ones: HostTensor = { dtype: 'int32', shape: [2, 6], data: new Int32Array(12).fill(1) };
  const batches = { next: async () => { const x = row(read++); return { feeds: { input_ids: x, attention_mask: ones, labels: x }, tokens: 12 }; } };
  const storage = memoryStorage();
  const steps: number[] = [];
  const r = await tune({
    model, data: { kind: 'stream', batches }, backend: referenceBackend(), storage, adapter: false,
    settings: { ...settings, variant: { kind: 'finetune', layers: 'all' }, epochs: 1, schedule: (step) => 1e-3 / step, optimizer: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 } },
    hooks: { shouldStop: () => steps.length >= 5, onRecord: (x) => { if (x.type === 'step') steps.push(x.step); }, extra: () => ({ read }) },
  });
  assert.equal(r.stopped, 'interrupted');
  assert.deepEqual(steps, [1, 2, 3, 4, 5]);
  assert.equal(read, 5);
  assert.equal(r.adapter, undefined);
  assert.deepEqual(Object.keys(r.params).sort(), Object.keys(params).sort());
  assert.notDeepEqual(r.params['wte.weight']!.data, params['wte.weight']!.data);
  const saved = await storage.load();
  assert.ok(E.isRight(saved) && saved.right !== undefined);
  assert.equal(saved.right.state.step, 5);
  assert.equal((saved.right.manifest.extra as { read: number }).read, 5);
  assert.throws(() => planTune({ model, data: { kind: 'stream', batches }, settings: { ...settings, epochs: 2 } }), /read once/);
});
