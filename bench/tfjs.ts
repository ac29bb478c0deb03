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
 *
 * - tfjs-node.{forward.gpt2-small.b5t128, train.gpt2-small.prefix10.b5t128, decode.gpt2-small.b1,
 *   decode.gpt2-small.b32-mixed}: the ONNX cases themselves (bench/cases.ts: same graphs, shapes,
 *   repetitions and FLOP counts) with tfjs-node as the backend (`tfjsNodeCases`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import {
  type HostTensor, type Gpt2Config, graph, causalLmGraph, inject, modelSites, decodeModelConfig, i32, f32
} from '../packages/core/src/index.ts';
import { sym, input, mul, reduceMean, grad, graphParams } from '../packages/core/src/graph.ts';
import { gpt2Forward } from '../packages/core/src/models/index.ts';
import { sitePast } from '../packages/core/src/prefix/index.ts';
import { tfjsBackend, type TfjsBackendOptions, type TfjsExecutable, type EngineName } from '../packages/backend-tfjs/src/index.ts';
import { gpt2Small, randomGpt2Params, forwardFlops, normal, median, type Measured } from './model.ts';
import { forward, train, decodeB1, decodeB32Mixed, type CaseOptions } from './cases.ts';

export interface TfjsCaseOptions {
  /** The engine (default wasm). */
  readonly engine?: EngineName;
  /** wasm XNNPACK threads. */
  readonly threads: number;
  /** Timed repetitions. */
  readonly steps?: number;
  readonly backend?: Partial<TfjsBackendOptions>;
}

/**
 * CPU milliseconds of this process's main thread (Linux: /proc/self/task/<pid>/stat, 10 ms
 * ticks; undefined elsewhere). With wasm threads, the XNNPACK workers' time is not in it: on an
 * otherwise idle machine a step cannot take less wall time than this.
 */
const mainThreadCpuMs = (): number | undefined => {
  try {
    const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10; // utime + stime, in ticks of 1/100 s
  } catch {
    return undefined;
  }
};

const timeSteps = async (n: number, f: () => Promise<unknown>): Promise<{ wall: number[]; cpu: number[]; mainCpu: number | undefined }> => {
  const wall: number[] = [];
  const cpu: number[] = [];
  const m0 = mainThreadCpuMs();
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t = performance.now();
    await f();
    wall.push(performance.now() - t);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  const m1 = mainThreadCpuMs();
  return { wall, cpu, mainCpu: m0 === undefined || m1 === undefined ? undefined : (m1 - m0) / n };
};

/** The slowest ops (with `backend.profile: true`), e.g. 'matmul 812ms/24 ...'. */
const profileOf = (ex: TfjsExecutable): Record<string, string> => {
  const p = Object.entries(ex.profile()).slice(0, 20);
  return p.length === 0 ? {} : { profile: p.map(([k, v]) => `${k} ${v.ms.toFixed(0)}ms/${v.calls}`).join(', ') };
};

const backendFor = (o: TfjsCaseOptions) => tfjsBackend({ engine: o.engine ?? 'wasm', wasmThreads: o.threads, ...o.backend });

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
  const { wall, cpu, mainCpu } = await timeSteps(o.steps ?? 5, () => ex.run(feeds));
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
      ...(mainCpu === undefined ? {} : { main_thread_cpu_ms_per_step: Math.round(mainCpu), gflops_per_main_thread_cpu_s: Number((flops / (mainCpu / 1000) / 1e9).toFixed(1)) }),
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
  const { wall, cpu, mainCpu } = await timeSteps(o.steps ?? 3, () => ex.run(feeds));
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
      ...(mainCpu === undefined ? {} : { main_thread_cpu_ms_per_step: Math.round(mainCpu), gflops_per_main_thread_cpu_s: Number((flops / (mainCpu / 1000) / 1e9).toFixed(1)) }),
    },
  };
};

type Case = (o: { readonly threads: number; readonly steps?: number }) => Promise<Measured>;

/** The benchmarks on one engine, named `tfjs-<engine>.…`. */
export const tfjsCasesFor = (engine: EngineName): Record<string, Case> => ({
  [`tfjs-${engine}.train.gpt2-block.b2t256`]: (o) => trainBlock({ ...o, engine }),
  [`tfjs-${engine}.forward.gpt2-small.b5t128`]: (o) => forwardSmall({ ...o, engine }),
});

/**
 * The ONNX cases of bench/cases.ts (forward with loss, the prefix-tuning train step, KV-cache
 * decoding at batch 1 and batch 32 with a prefix bank) on the same shapes, through the same core
 * code, on tfjs-node (TensorFlow's C library, its own intra-op pool over all cores; built by
 * scripts/install-tfjs-native.sh): `tfjs-node.<the onnx case's name without 'onnx.'>`.
 */
const onTfjsNode = (f: (o: CaseOptions) => Promise<Measured>): Case => async (o) => {
  const be = tfjsBackend({ engine: 'node', log: false });
  await be.ready();
  const m = await f({ ...o, make: () => be });
  return { ...m, details: { backend: 'tfjs', engine: be.engine, ...m.details } };
};

// (arrows: bench/cases.ts imports this module, so its cases are read when a case runs)
export const tfjsNodeCases: Readonly<Record<string, Case>> = {
  'tfjs-node.forward.gpt2-small.b5t128': onTfjsNode((o) => forward(o)),
  'tfjs-node.train.gpt2-small.prefix10.b5t128': onTfjsNode((o) => train(o)),
  'tfjs-node.decode.gpt2-small.b1': onTfjsNode((o) => decodeB1(o)),
  'tfjs-node.decode.gpt2-small.b32-mixed': onTfjsNode((o) => decodeB32Mixed(o)),
};

/** The wasm benchmarks and the tfjs-node ones (bench/cases.ts spreads them into the runner's registry). */
export const tfjsCases: Readonly<Record<string, Case>> = { ...tfjsCasesFor('wasm'), ...tfjsNodeCases };

/**
 * Standalone (bench/gpu.sh): `node --import tsx bench/tfjs.ts --engine node-gpu [--steps N]
 * [--threads N] [--out FILE]` runs both benchmarks on that engine in this process and writes
 * { machine, results } as bench/run.ts does.
 */
const main = async (): Promise<void> => {
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const engine = (arg('engine') ?? 'wasm') as EngineName;
  const steps = arg('steps') === undefined ? undefined : Number(arg('steps'));
  const threads = Number(arg('threads') ?? availableParallelism());
  const results: unknown[] = [];
  for (const [name, f] of Object.entries(tfjsCasesFor(engine))) {
    const load0 = loadavg()[0]!;
    try {
      const m = await f({ threads, ...(steps === undefined ? {} : { steps }) });
      results.push({
        name, tokens_per_s: m.tokens_per_s, step_ms: m.step_ms, gflops: m.flops_per_step / (m.step_ms / 1000) / 1e9, flops_per_step: m.flops_per_step,
        peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024), threads, load_avg_1m: [load0, loadavg()[0]!].map((x) => Number(x.toFixed(2))), ...m.details,
      });
      console.error(`${name}: ${m.step_ms.toFixed(1)} ms/step, ${(m.flops_per_step / m.step_ms / 1e6).toFixed(1)} GFLOP/s`);
    } catch (e) {
      results.push({ name, error: (e as Error).message });
      console.error(`${name}: failed: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }
  const out = { machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString() }, results };
  const file = arg('out');
  if (file) writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  else process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
};

/**
 * `--probe` (bench/gpu.sh; its own process, the native library loads once): whether
 * tfjs-node-gpu loads with a visible GPU, as one JSON line { path, available, detail }.
 * (onnxruntime-node's CUDA provider is probed by bench/cuda.ts.)
 */
const probe = async (): Promise<void> => {
  const say = (available: boolean, detail: string): void => { process.stdout.write(`${JSON.stringify({ path: 'tfjs-node-gpu', available, detail })}\n`); };
  try {
    const info = await tfjsBackend({ engine: 'node-gpu', log: false }).ready();
    say(info.detail.endsWith('GPU device in use'), info.description);
  } catch (e) {
    say(false, (e as Error).message.split('\n')[0]!.slice(0, 300));
  }
};

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--probe')) await probe();
  else await main();
}
