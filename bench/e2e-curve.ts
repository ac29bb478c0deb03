/**
 * A prefix-tuning run on an E2E subset with a tiny GPT-2, on ONNX Runtime and on the reference
 * evaluator from the same initial values and batches: the two loss curves must agree (first
 * 20 steps within 1e-4 relative) and the loss must go down.
 *
 *   node --import tsx bench/e2e-curve.ts [--steps 300] [--reference-steps 100] [--rows 512] [--out bench/results/e2e-curve.json]
 *
 * (the reference evaluator is plain TypeScript, ~1-4 s a step here: it runs the first
 * --reference-steps steps)
 *
 * Data: the first `rows` rows of ../shared/data/e2e/trainset.csv, linearised as the paper does
 * (`name : The Eagle | Type : coffee shop | ...`), tokenized with the real GPT-2 tokenizer
 * (../shared/models/gpt2-tokenizer), source EOS target EOS with the loss on the target. The
 * model is a frozen random GPT-2 (d=64, 2 layers, 4 heads) whose vocabulary is the subset's
 * token ids renumbered densely (so the reference evaluator stays fast); prefix length 5 with
 * the MLP reparametrisation (hidden 64), AdamW lr 5e-3, clipping at 1, batch 8.
 */
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  type HostTensor, type Gpt2Config, type Backend, decodeModelConfig, modelParamShapes, inject, modelSites, injectedTrainGraph,
  referenceBackend, f32, i32,
} from '../packages/core/src/index.ts';
import { trainStepGraph, trainState, trainInternalOutputs, type AdamWConfig } from '../packages/core/src/train/index.ts';
import { loadE2E, lineariseE2E, buildDecoderExample } from '../packages/tasks/src/index.ts';
import { loadTokenizer } from '../packages/hub/src/index.ts';
import { onnxBackend } from '../packages/backend-onnx/src/index.ts';
import { normal } from './model.ts';

const here = dirname(fileURLToPath(import.meta.url));
const shared = process.env['PREFIX_TUNING_SHARED'] ?? join(here, '..', '..', 'shared');
const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const steps = Number(arg('steps', '300'));
const nRows = Number(arg('rows', '512'));
const refSteps = Number(arg('reference-steps', '100'));
const B = 8;

const orThrow = <A>(e: { _tag: 'Left'; left: unknown } | { _tag: 'Right'; right: A }, what: string): A => {
  if (e._tag === 'Left') throw new Error(`${what}: ${typeof e.left === 'string' ? e.left : JSON.stringify(e.left)}`);
  return e.right;
};

const rows = orThrow(await loadE2E(join(shared, 'data', 'e2e', 'trainset.csv'))(), 'E2E').rows.slice(0, nRows);
const tok = orThrow(await loadTokenizer(join(shared, 'models', 'gpt2-tokenizer')), 'tokenizer');
const EOS = 50256;
const examples = rows.map((r) => buildDecoderExample({ encode: (t) => tok.encode(t), eosId: EOS, padId: EOS }, { maxLength: 64 })({ source: lineariseE2E(r.attributes), target: r.ref }));
const used = [...new Set(examples.flatMap((e) => e.inputIds))].sort((a, b) => a - b);
const dense = new Map(used.map((id, i) => [id, i]));
const V = used.length;

const cfg = orThrow(decodeModelConfig({ model_type: 'gpt2', vocab_size: V, n_positions: 128, n_embd: 64, n_layer: 2, n_head: 4, activation_function: 'gelu_new' }), 'config') as Gpt2Config;
let seed = 11;
const params: Record<string, HostTensor> = Object.fromEntries(Object.entries(modelParamShapes(cfg)).map(([name, shape]) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const ln = /(^|\.)ln_/.test(name);
  return [name, f32(shape, ln ? (name.endsWith('weight') ? new Float32Array(n).fill(1) : new Float32Array(n)) : normal(n, 0.1, seed++))];
}));

const batches: Record<string, HostTensor>[] = [];
for (let i = 0; i + B <= examples.length; i += B) {
  const ex = examples.slice(i, i + B);
  const T = Math.max(...ex.map((e) => e.inputIds.length));
  const pad = (xs: readonly number[], v: number) => [...xs, ...new Array<number>(T - xs.length).fill(v)];
  batches.push({
    input_ids: i32([B, T], ex.flatMap((e) => pad(e.inputIds.map((t) => dense.get(t)!), 0))),
    attention_mask: i32([B, T], ex.flatMap((e) => pad(e.inputIds.map(() => 1), 0))),
    labels: i32([B, T], ex.flatMap((e) => pad(e.labels.map((t) => (t < 0 ? t : dense.get(t)!)), -100))),
  });
}

const inj = inject(modelSites(cfg), { kind: 'prefix', length: 5, reparam: { kind: 'mlp', hidden: 64 } });
const opt: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };
const g = trainStepGraph(injectedTrainGraph(cfg, inj, { loss: 'mean' }).outputs['loss']!, inj.trainable, opt);
const init: Record<string, HostTensor> = Object.fromEntries(inj.trainable.map((s, i) => {
  const n = s.shape.reduce((a, b) => a * b, 1);
  const std = s.init.kind === 'normal' ? s.init.std : s.init.kind === 'uniform' ? s.init.bound / Math.sqrt(3) : 0;
  return [s.name, f32(s.shape, std === 0 ? new Float32Array(n) : normal(n, std, 100 + i))];
}));

const curve = async (backend: Backend, n: number): Promise<{ losses: number[]; seconds: number }> => {
  const ex = await backend.compile(g, { params, state: trainState(inj.trainable, init, opt), internalOutputs: trainInternalOutputs(g) });
  const losses: number[] = [];
  const t = performance.now();
  for (let s = 0; s < n; s++) {
    const out = await ex.run({ ...batches[s % batches.length]!, lr: f32([], [5e-3]), step: f32([], [s + 1]) });
    losses.push(out['loss']!.data[0] as number);
  }
  await ex.dispose();
  return { losses, seconds: (performance.now() - t) / 1000 };
};

const onnx = await curve(onnxBackend(), steps);
const ref = await curve(referenceBackend(), Math.min(refSteps, steps));
const rel = ref.losses.map((r, i) => Math.abs(onnx.losses[i]! - r) / Math.abs(r));
const first20 = Math.max(...rel.slice(0, 20));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const summary = {
  data: { rows: rows.length, examples: examples.length, batches: batches.length, batch: B, vocab: V },
  model: { n_embd: cfg.n_embd, n_layer: cfg.n_layer, n_head: cfg.n_head }, prefix: { length: 5, mlp_hidden: 64 }, optimizer: { ...opt, lr: 5e-3 },
  steps, max_rel_diff_first20: first20, max_rel_diff_all: Math.max(...rel),
  loss_first10_mean: mean(onnx.losses.slice(0, 10)), loss_last10_mean: mean(onnx.losses.slice(-10)),
  seconds: { onnx: onnx.seconds, reference: ref.seconds },
  onnx: onnx.losses, reference: ref.losses,
};
const out = resolve(arg('out', join(here, 'results', 'e2e-curve.json')));
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`E2E subset: ${examples.length} examples, vocab ${V}; ${steps} steps`);
console.log(`loss ${summary.loss_first10_mean.toFixed(4)} (first 10 mean) -> ${summary.loss_last10_mean.toFixed(4)} (last 10 mean)`);
console.log(`onnx vs reference: max relative difference ${first20.toExponential(2)} over the first 20 steps, ${summary.max_rel_diff_all.toExponential(2)} over ${ref.losses.length}`);
console.log(`time: onnx ${onnx.seconds.toFixed(1)} s, reference ${ref.seconds.toFixed(1)} s; wrote ${out}`);
if (!(first20 <= 1e-4) || !(summary.loss_last10_mean < summary.loss_first10_mean)) process.exitCode = 1;
