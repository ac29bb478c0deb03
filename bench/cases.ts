/**
 * The ONNX benchmarks (GPT-2 small, random weights): forward with loss, one prefix-tuning
 * train step, greedy KV-cache decoding at batch 1, and batch 32 with a different prefix per
 * row from a prefix bank. Each returns its measured step time and throughput.
 */
import {
  type Backend, type Executable, type HostTensor, type CausalDecoder, graph, causalLmGraph, inject, modelSites, injectedTrainGraph, causalDecoder, i32, f32,
} from '../packages/core/src/index.ts';
import { trainStepGraph, trainState, trainInternalOutputs, trainNames, unrollTrainSteps, type AdamWConfig } from '../packages/core/src/train/index.ts';
import { onnxBackend, type OnnxBackendOptions } from '../packages/backend-onnx/src/index.ts';
import { tfjsCases } from './tfjs.ts';
import { peakCases } from './peak.ts';
import { serveCases, namedOnlyCases } from './serve.ts';
import { gpt2Small, randomGpt2Params, forwardFlops, prefixBackwardFlops, prefixMlpFlops, normal, median, type Measured } from './model.ts';

export interface CaseOptions {
  readonly threads: number;
  /** Timed repetitions (steps, or generated tokens for decoding). */
  readonly steps?: number;
  readonly backend?: Partial<OnnxBackendOptions>;
  /** Another backend for the same case (bench/tfjs.ts runs these cases on tfjs-node); default ONNX Runtime. */
  readonly make?: () => Backend;
}

const backendFor = (o: CaseOptions): Backend => o.make?.() ?? onnxBackend({ intraOpNumThreads: o.threads, ...o.backend });

const ids = (B: number, T: number, seed: number): Int32Array => Int32Array.from({ length: B * T }, (_, i) => (i * 7919 + seed * 104729) % 50257);

/** Process CPU time (user + system, all threads) consumed by the timed steps, per step. */
let cpuPerStep = 0;

const timeSteps = async (n: number, f: () => Promise<unknown>): Promise<number[]> => {
  const ms: number[] = [];
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  const c = process.cpuUsage(c0);
  cpuPerStep = (c.user + c.system) / 1000 / n;
  return ms;
};

/** onnx.forward.gpt2-small.b5t128: forward with the (mean) loss on a 5×128 batch. */
export const forward = async (o: CaseOptions): Promise<Measured> => {
  const cfg = gpt2Small();
  const [B, T] = [5, 128];
  const g = graph({ loss: causalLmGraph(cfg, { loss: 'mean' }).outputs['loss']! });
  const params = randomGpt2Params(cfg);
  const t0 = performance.now();
  const ex = await backendFor(o).compile(g, { params });
  const compileMs = performance.now() - t0;
  const x = i32([B, T], ids(B, T, 1));
  const feeds = { input_ids: x, labels: x };
  await ex.run(feeds); // warm-up
  const ms = await timeSteps(o.steps ?? 4, () => ex.run(feeds));
  await ex.dispose();
  const step = median(ms);
  const flops = forwardFlops(cfg, B * T, T);
  return { tokens_per_s: (B * T) / (step / 1000), step_ms: step, flops_per_step: flops, details: { batch: B, seq: T, timed_steps: ms.length, compile_ms: Math.round(compileMs), all_ms: ms.map((m) => m.toFixed(1)).join(' '), cpu_ms_per_step: Math.round(cpuPerStep) } };
};

/** onnx.train.gpt2-small.prefix10.b5t128: one prefix-tuning step (P=10, MLP 512, AdamW, clipping). */
export const train = (o: CaseOptions): Promise<Measured> => trainStep(o, 'mlp');

/**
 * One prefix-tuning step with the MLP reparametrisation (9.9M trainable parameters) or the
 * direct one (the 184K prefix values; bench/cuda.ts contrasts the two: trainable state and its
 * AdamW moments are host tensors that cross to the device and back at every run), `perRun`
 * steps per run (`unrollTrainSteps`; the times are per step).
 */
export const trainStep = async (o: CaseOptions, reparam: 'mlp' | 'direct', perRun = 1): Promise<Measured> => {
  const cfg = gpt2Small();
  const [B, T, P, H] = [5, 128, 10, 512];
  const inj = inject(modelSites(cfg), { kind: 'prefix', length: P, reparam: reparam === 'mlp' ? { kind: 'mlp', hidden: H } : { kind: 'direct' } });
  const lossGraph = injectedTrainGraph(cfg, inj, { loss: 'mean' });
  const opt: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 };
  const g = unrollTrainSteps(trainStepGraph(lossGraph.outputs['loss']!, inj.trainable, opt), inj.trainable, opt, perRun);
  const init: Record<string, HostTensor> = {};
  inj.trainable.forEach((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const std = s.init.kind === 'normal' ? s.init.std : s.init.kind === 'uniform' ? s.init.bound / Math.sqrt(3) : 0;
    init[s.name] = f32(s.shape, std === 0 ? new Float32Array(n) : normal(n, std, 100 + i));
  });
  const params = randomGpt2Params(cfg);
  const t0 = performance.now();
  const ex: Executable = await backendFor(o).compile(g, {
    params, state: trainState(inj.trainable, init, opt), internalOutputs: trainInternalOutputs(g),
  });
  const compileMs = performance.now() - t0;
  const x = i32([B, T], ids(B, T, 2));
  let k = 0;
  const mask = i32([B, T], new Array<number>(B * T).fill(1));
  // `perRun` steps per run (unrollTrainSteps): step j reads its batch and lr under `name@j`
  const feeds = () => Object.fromEntries(Array.from({ length: perRun }, (_, j) =>
    Object.entries({ input_ids: x, labels: x, attention_mask: mask, lr: f32([], [5e-5]), step: f32([], [++k]) }).map(([n, t]) => [trainNames.at(n, j), t])).flat());
  await ex.run(feeds()); // warm-up
  const losses: number[] = [];
  const ms = (await timeSteps(o.steps ?? 4, async () => losses.push((await ex.run(feeds()))['loss']!.data[0] as number))).map((m) => m / perRun);
  await ex.dispose();
  const step = median(ms);
  const flops = forwardFlops(cfg, B * T, P + T) + prefixBackwardFlops(cfg, B * T, P + T) + (reparam === 'mlp' ? prefixMlpFlops(cfg, P, H) : 0);
  const trainable = inj.trainable.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  return {
    tokens_per_s: (B * T) / (step / 1000), step_ms: step, flops_per_step: flops,
    details: { batch: B, seq: T, prefix: P, reparam, ...(reparam === 'mlp' ? { mlp_hidden: H } : {}), trainable, ...(perRun > 1 ? { steps_per_run: perRun } : {}), timed_steps: ms.length, compile_ms: Math.round(compileMs), all_ms: ms.map((m) => m.toFixed(1)).join(' '), cpu_ms_per_step: Math.round(cpuPerStep / perRun), losses: losses.map((l) => l.toFixed(4)).join(' ') },
  };
};

const argmaxRows = (logits: Float32Array, rows: number, V: number): Int32Array => {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = r * V;
    for (let i = r * V + 1; i < (r + 1) * V; i++) if (logits[i]! > logits[best]!) best = i;
    out[r] = best - r * V;
  }
  return out;
};

/**
 * Greedy decoding through core's `causalDecoder` (what the CLI runs): `steps` tokens after the
 * prefill, the cached steps timed. Its step graph is compiled `repeated`, so ONNX Runtime owns
 * prepacked weights for it; the cache stays in capacity buffers that the step reads in place.
 */
const decodeLoop = async (dec: CausalDecoder, prompts: number[][], userIds: number[] | undefined, steps: number, V: number, perRun = 1) => {
  const rows = prompts.length;
  const tp = performance.now();
  const s = await dec.start(prompts, { reserve: steps + 2 * perRun + 2, ...(userIds ? { userIds } : {}) });
  const prefillMs = performance.now() - tp;
  const identity = Int32Array.from({ length: rows }, (_, i) => i);
  // one token per run, or `perRun` (greedyStepsGraph: the first chosen here, the others in the graph)
  const advance = async () => {
    const first = argmaxRows(await s.logits(), rows, V);
    if (perRun === 1) await s.advance(identity, first);
    else await s.advanceGreedy!(first, perRun);
  };
  // untimed runs warm the step sessions' kernels
  for (let i = 0; i < 2; i++) await advance();
  const runs = Math.max(1, Math.round(steps / perRun));
  const t = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) await advance();
  const c = process.cpuUsage(c0);
  cpuPerStep = (c.user + c.system) / 1000 / (runs * perRun);
  return { prefillMs, stepMs: (performance.now() - t) / (runs * perRun) };
};

/** B prompts of T ids: the rows of `ids(B, T, seed)`. */
const prompts = (B: number, T: number, seed: number): number[][] => {
  const x = ids(B, T, seed);
  return Array.from({ length: B }, (_, b) => Array.from(x.subarray(b * T, (b + 1) * T)));
};

/** onnx.decode.gpt2-small.b1: greedy decoding with a KV cache after a 64-token prompt, batch 1. */
export const decodeB1 = async (o: CaseOptions): Promise<Measured> => {
  const cfg = gpt2Small();
  const [T, N] = [64, o.steps ?? 64];
  const t0 = performance.now();
  const dec = await causalDecoder(backendFor(o), cfg, randomGpt2Params(cfg));
  const compileMs = performance.now() - t0;
  const { prefillMs, stepMs } = await decodeLoop(dec, prompts(1, T, 3), undefined, N, cfg.vocab_size);
  await dec.dispose();
  const tk = T + 2 + N / 2; // mean cache length over the timed steps (+1 for the new token)
  return {
    tokens_per_s: 1000 / stepMs, step_ms: stepMs, flops_per_step: forwardFlops(cfg, 1, tk + 1),
    details: { prompt: T, generated: N, compile_ms: Math.round(compileMs), prefill_ms: Math.round(prefillMs), mean_cache: tk, cpu_ms_per_step: Number(cpuPerStep.toFixed(1)) },
  };
};

/** onnx.decode.gpt2-small.b32-mixed: 32 rows, each with a different prefix (P=10) from a bank of 32. */
export const decodeB32Mixed = async (o: CaseOptions, perRun = 1): Promise<Measured> => {
  const cfg = gpt2Small();
  const [B, T, P, N] = [32, 64, 10, o.steps ?? 32];
  const inj = inject(modelSites(cfg), { kind: 'prefix', length: P }, { users: B, mode: 'stored' });
  const bank = inj.trainable[0]!;
  const params = { ...randomGpt2Params(cfg), [bank.name]: f32(bank.shape, normal(bank.shape.reduce((a, b) => a * b, 1), 0.5, 7)) };
  const t0 = performance.now();
  const dec = await causalDecoder(backendFor(o), cfg, params, inj);
  const compileMs = performance.now() - t0;
  const { prefillMs, stepMs } = await decodeLoop(dec, prompts(B, T, 4), Array.from({ length: B }, (_, i) => i), N, cfg.vocab_size, perRun);
  await dec.dispose();
  const tk = P + T + 2 * perRun + N / 2; // the warm-up runs read 2·perRun tokens
  return {
    tokens_per_s: (B * 1000) / stepMs, step_ms: stepMs, flops_per_step: forwardFlops(cfg, B, tk + 1),
    details: { batch: B, prompt: T, prefix: P, users: B, generated: N, ...(perRun > 1 ? { tokens_per_run: perRun } : {}), compile_ms: Math.round(compileMs), prefill_ms: Math.round(prefillMs), mean_cache: tk, cpu_ms_per_step: Number(cpuPerStep.toFixed(1)) },
  };
};

export const cases: Readonly<Record<string, (o: CaseOptions) => Promise<Measured>>> = {
  'onnx.forward.gpt2-small.b5t128': forward,
  'onnx.train.gpt2-small.prefix10.b5t128': train,
  'onnx.decode.gpt2-small.b1': decodeB1,
  'onnx.decode.gpt2-small.b32-mixed': decodeB32Mixed,
  ...tfjsCases,
  ...peakCases,
  ...serveCases,
  ...namedOnlyCases,
};

/** Cases a plain `pnpm bench` (or a prefix in --only) leaves out: they run only when named (the 10-minute soak). */
export const NAMED_ONLY: ReadonlySet<string> = new Set(Object.keys(namedOnlyCases));
