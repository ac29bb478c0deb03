/**
 * The TensorFlow.js benchmarks (GPT-2 small architecture, random weights from bench/model.ts):
 *
 * - tfjs-wasm.train.gpt2-block.b2t256: one GPT-2-small block (d=768, 12 heads, MLP 3072) with a
 *   10-position prefix at its attention (PEFT layout, direct parametrisation), hidden states
 *   [2, 256, 768] in, loss = mean(ln_f(block(x)) * target); one step computes the loss and its
 *   gradient w.r.t. the prefix (frozen weights: activation gradients only).
 *   FLOPs per token (matrix products only, multiply-add = 2): forward 24·d² + 4·d·Tk, backward
 *   to the prefix 18·d² + 6·d·Tk (the MLP and the attention output projection back, then
 *   dP, dV and dK: no gradient through the QKV projection or to the queries), Tk = P + T.
 * - tfjs-wasm.forward.gpt2-small.b5t128: the 12-layer model's forward pass with the mean loss
 *   on a 5x128 batch (as onnx.forward.gpt2-small.b5t128; FLOPs from bench/model.ts).
 *
 * Both run on the engine `tfjs-wasm` names (the wasm engine, `--threads` XNNPACK threads;
 * engine and thread count are recorded in the result: `backend` and `engine` in the details
 * override the runner's defaults). bench/cases.ts spreads `tfjsCases` into its registry.
 */
import {
  type HostTensor, type Gpt2Config, graph, sym, input, mul, reduceMean, grad, causalLmGraph, gpt2Forward,
  inject, modelSites, sitePast, decodeModelConfig, graphParams, i32, f32,
} from '../packages/core/src/index.ts';
import { tfjsBackend, type TfjsBackendOptions, type TfjsExecutable } from '../packages/backend-tfjs/src/index.ts';
import { gpt2Small, randomGpt2Params, forwardFlops, normal } from './model.ts';

/** What a benchmark measured (the shape bench/run.ts records). */
export interface Measured {
  readonly tokens_per_s: number;
  readonly step_ms: number;
  readonly flops_per_step: number;
  readonly details: Record<string, number | string>;
}

export interface TfjsCaseOptions {
  /** wasm XNNPACK threads. */
  readonly threads: number;
  /** Timed repetitions. */
  readonly steps?: number;
  readonly backend?: Partial<TfjsBackendOptions>;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const timeSteps = async (n: number, f: () => Promise<unknown>): Promise<{ wall: number[]; cpu: number[] }> => {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t = performance.now();
    await f();
    wall.push(performance.now() - t);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall, cpu };
};

/** The slowest ops (with `backend.profile: true`), e.g. 'matmul 812ms/24 ...'. */
const profileOf = (ex: TfjsExecutable): Record<string, string> => {
  const p = Object.entries(ex.profile()).slice(0, 20);
  return p.length === 0 ? {} : { profile: p.map(([k, v]) => `${k} ${v.ms.toFixed(0)}ms/${v.calls}`).join(', ') };
};

const backendFor = (o: TfjsCaseOptions) => tfjsBackend({ engine: 'wasm', wasmThreads: o.threads, ...o.backend });

/** GPT-2 small's dimensions with one layer: the benchmark's block. */
export const gpt2Block = (): Gpt2Config => {
  const c = decodeModelConfig({ model_type: 'gpt2', vocab_size: 1, n_positions: 1024, n_embd: 768, n_layer: 1, n_head: 12, activation_function: 'gelu_new' });
  if (c._tag === 'Left') throw new Error(c.left);
  return c.right as Gpt2Config;
};

/** The block's train graph: `loss` and `grad:prefix.embedding.weight` (see the module comment). */
export const blockTrainGraph = (cfg: Gpt2Config, P: number) => {
  const B = sym('B');
  const inj = inject(modelSites(cfg), { kind: 'prefix', length: P });
  const prefix = sitePast(inj, 'prefix', 'self', B)!;
  const x = input('hidden', [B, 'T', cfg.n_embd]);
  const target = input('target', [B, 'T', cfg.n_embd]);
  const out = gpt2Forward(cfg, { inputsEmbeds: x, pastKeyValues: prefix.past, positionOffset: P });
  const loss = reduceMean(mul(out.hidden, target));
  const spec = inj.trainable[0]!;
  const prefixParam = graphParams(graph({ loss })).find((n) => n.attrs.name === spec.name)!;
  const [g] = grad(loss, [prefixParam]);
  return { g: graph({ loss, [`grad:${spec.name}`]: g! }), spec };
};

/** tfjs-wasm.train.gpt2-block.b2t256 */
export const trainBlock = async (o: TfjsCaseOptions): Promise<Measured> => {
  const cfg = gpt2Block();
  const [B, T, P, d] = [2, 256, 10, cfg.n_embd];
  const { g, spec } = blockTrainGraph(cfg, P);
  const params: Record<string, HostTensor> = { ...randomGpt2Params(cfg), [spec.name]: f32(spec.shape, normal(spec.shape.reduce((a, b) => a * b, 1), 0.5, 11)) };
  const be = backendFor(o);
  const t0 = performance.now();
  const ex: TfjsExecutable = await be.compile(g, { params });
  const compileMs = performance.now() - t0;
  const feeds = { hidden: f32([B, T, d], normal(B * T * d, 1, 12)), target: f32([B, T, d], normal(B * T * d, 1, 13)) };
  await ex.run(feeds); // warm-up (XNNPACK packs the frozen weights once)
  const { wall, cpu } = await timeSteps(o.steps ?? 5, () => ex.run(feeds));
  const step = median(wall);
  const tk = P + T;
  const flops = B * T * (24 * d * d + 4 * d * tk + 18 * d * d + 6 * d * tk);
  const prof = profileOf(ex);
  await ex.dispose();
  return {
    tokens_per_s: (B * T) / (step / 1000), step_ms: step, flops_per_step: flops,
    details: {
      backend: 'tfjs', engine: be.engine, batch: B, seq: T, prefix: P, timed_steps: wall.length, compile_ms: Math.round(compileMs),
      all_ms: wall.map((m) => m.toFixed(1)).join(' '), cpu_ms: cpu.map((m) => m.toFixed(1)).join(' '), cpu_ms_per_step: Math.round(median(cpu)),
      gflops_per_cpu_s: Number((flops / (median(cpu) / 1000) / 1e9).toFixed(1)), ...prof,
    },
  };
};

/** tfjs-wasm.forward.gpt2-small.b5t128 */
export const forwardSmall = async (o: TfjsCaseOptions): Promise<Measured> => {
  const cfg = gpt2Small();
  const [B, T] = [5, 128];
  const g = graph({ loss: causalLmGraph(cfg, { loss: 'mean' }).outputs['loss']! });
  const be = backendFor(o);
  const t0 = performance.now();
  const ex = await be.compile(g, { params: randomGpt2Params(cfg) });
  const compileMs = performance.now() - t0;
  const x = i32([B, T], Int32Array.from({ length: B * T }, (_, i) => (i * 7919 + 104729) % cfg.vocab_size));
  const feeds = { input_ids: x, labels: x };
  await ex.run(feeds); // warm-up
  const { wall, cpu } = await timeSteps(o.steps ?? 3, () => ex.run(feeds));
  const step = median(wall);
  const flops = forwardFlops(cfg, B * T, T);
  const prof = profileOf(ex);
  await ex.dispose();
  return {
    tokens_per_s: (B * T) / (step / 1000), step_ms: step, flops_per_step: flops,
    details: {
      backend: 'tfjs', engine: be.engine, batch: B, seq: T, timed_steps: wall.length, compile_ms: Math.round(compileMs),
      all_ms: wall.map((m) => m.toFixed(1)).join(' '), cpu_ms: cpu.map((m) => m.toFixed(1)).join(' '), cpu_ms_per_step: Math.round(median(cpu)),
      gflops_per_cpu_s: Number((flops / (median(cpu) / 1000) / 1e9).toFixed(1)), ...prof,
    },
  };
};

/** The tfjs benchmarks by name (bench/cases.ts spreads them into the runner's registry). */
export const tfjsCases: Readonly<Record<string, (o: { readonly threads: number; readonly steps?: number }) => Promise<Measured>>> = {
  'tfjs-wasm.train.gpt2-block.b2t256': trainBlock,
  'tfjs-wasm.forward.gpt2-small.b5t128': forwardSmall,
};
