/**
 * `node --import tsx bench/cuda.ts [--train | --decode]` (bench/gpu.sh): whether onnxruntime-node's CUDA
 * execution provider loads and where it places a model's nodes. Compiles GPT-2 small's forward
 * with loss (random weights) for CUDA with ORT's profiler on, runs it once, and reads the
 * profile: one JSON line { path, available, detail, placement: { provider: node count },
 * cpu_ops: [op types ORT left on the CPU] }. `available` is false, with the reason, when the
 * provider libraries are missing or CUDA fails to start.
 *
 * `--train`: where the time of a prefix-tuning train step goes on CUDA, as one JSON line: the
 * step's node placement and its kernel time per step by provider and by op type (ORT's
 * profile, 3 steps after a warm-up step), then the step time with the MLP reparametrisation (9.9M trainable
 * parameters, whose values and AdamW moments cross to the device and back at every run), with
 * the direct one (184K), and with the MLP at 8 steps per run (`unrollTrainSteps`).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { graph, causalLmGraph, i32 } from '../packages/core/src/index.ts';
import { trainStep, decodeB32Mixed } from './cases.ts';
import { onnxBackend, cudaAvailable, cudaProviderPath } from '../packages/backend-onnx/src/index.ts';
import { gpt2Small, randomGpt2Params } from './model.ts';

interface ProfileEvent { readonly cat?: string; readonly name?: string; readonly ts?: number; readonly dur?: number; readonly args?: { readonly provider?: string; readonly op_name?: string } }

/** The node events of the one profile ORT wrote into `dir`, from the runs after the first `skipRuns`. */
const nodeEvents = (dir: string, skipRuns = 0): ProfileEvent[] => {
  const file = readdirSync(dir).find((f) => f.endsWith('.json'));
  if (file === undefined) throw new Error('ORT wrote no profile');
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
  const runs = events.filter((e) => e.name === 'model_run').sort((x, y) => (x.ts ?? 0) - (y.ts ?? 0));
  const from = skipRuns === 0 ? -Infinity : (runs[skipRuns - 1]?.ts ?? 0) + (runs[skipRuns - 1]?.dur ?? 0);
  return events.filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time') === true && e.args?.provider !== undefined && (e.ts ?? 0) >= from);
};

const say = (o: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify({ path: 'onnxruntime-node cuda', ...o })}\n`); };

const main = async (): Promise<void> => {
  if (!cudaAvailable()) return say({ available: false, detail: `no CUDA provider libraries (${cudaProviderPath()} is missing)` });
  const dir = mkdtempSync(join(tmpdir(), 'prefix-tuning-cuda-'));
  try {
    const cfg = gpt2Small();
    const ex = await onnxBackend({ executionProviders: ['cuda', 'cpu'], profilePrefix: join(dir, 'profile') })
      .compile(graph({ loss: causalLmGraph(cfg, { loss: 'mean' }).outputs['loss']! }), { params: randomGpt2Params(cfg) });
    const x = i32([2, 16], Array.from({ length: 32 }, (_, i) => (i * 7919) % cfg.vocab_size));
    const loss = (await ex.run({ input_ids: x, labels: x }))['loss']!.data[0] as number;
    await ex.dispose();
    const placement: Record<string, number> = {};
    const cpuOps = new Set<string>();
    for (const e of nodeEvents(dir)) {
      placement[e.args!.provider!] = (placement[e.args!.provider!] ?? 0) + 1;
      if (e.args!.provider === 'CPUExecutionProvider' && e.args!.op_name) cpuOps.add(e.args!.op_name);
    }
    const onGpu = (placement['CUDAExecutionProvider'] ?? 0) > 0;
    say({ available: onGpu && Number.isFinite(loss), detail: onGpu ? `CUDA execution provider ran GPT-2 small's forward (loss ${loss.toFixed(4)})` : 'no node ran on CUDA', placement, cpu_ops: [...cpuOps].sort() });
  } catch (e) {
    say({ available: false, detail: (e as Error).message.split('\n')[0]!.slice(0, 300) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const train = async (): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'prefix-tuning-cuda-'));
  const out: Record<string, unknown> = { path: 'onnxruntime-node cuda', what: 'prefix-tuning train step, GPT-2 small, P=10, MLP 512, batch 5x128' };
  try {
    // the benchmark's train step (bench/cases.ts): one warm-up run (cuBLAS and the memory arena
    // start lazily), then `runs` timed ones; ORT writes the profile when the executable is disposed
    const runs = 3;
    await trainStep({ threads: availableParallelism(), steps: runs, backend: { executionProviders: ['cuda', 'cpu'], profilePrefix: join(dir, 'profile') } }, 'mlp');
    const byProvider: Record<string, { nodes: number; ms_per_step: number }> = {};
    const byOp: Record<string, number> = {};
    const cpuOps = new Set<string>();
    for (const e of nodeEvents(dir, 1)) {
      const p = e.args!.provider!;
      const ms = (e.dur ?? 0) / 1000 / runs;
      const cur = byProvider[p] ?? { nodes: 0, ms_per_step: 0 };
      byProvider[p] = { nodes: cur.nodes + 1 / runs, ms_per_step: cur.ms_per_step + ms };
      const op = `${e.args!.op_name ?? '?'}@${p.replace('ExecutionProvider', '')}`;
      byOp[op] = (byOp[op] ?? 0) + ms;
      if (p === 'CPUExecutionProvider' && e.args!.op_name) cpuOps.add(e.args!.op_name);
    }
    out['kernels'] = Object.fromEntries(Object.entries(byProvider).map(([p, v]) => [p, { nodes: Math.round(v.nodes), ms_per_step: Number(v.ms_per_step.toFixed(2)) }]));
    out['cpu_ops'] = [...cpuOps].sort();
    out['top_ops_ms_per_step'] = Object.fromEntries(Object.entries(byOp).sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, v]) => [k, Number(v.toFixed(2))]));
    for (const [reparam, perRun] of [['mlp', 1], ['direct', 1], ['mlp', 8]] as const) {
      const t = performance.now();
      const m = await trainStep({ threads: availableParallelism(), steps: perRun === 1 ? 10 : 4, backend: { executionProviders: ['cuda', 'cpu'] } }, reparam, perRun);
      const key = `${reparam}${perRun > 1 ? `_x${perRun}` : ''}`;
      out[`step_ms_${key}`] = Number(m.step_ms.toFixed(1));
      out[`compile_ms_${key}`] = m.details['compile_ms'];
      out[`trainable_${key}`] = m.details['trainable'];
      out[`wall_s_${key}`] = Number(((performance.now() - t) / 1000).toFixed(1));
    }
  } catch (e) {
    out['error'] = (e as Error).message.split('\n')[0]!.slice(0, 300);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
};

/** `--decode`: the b32-mixed decoding case on CUDA at 1 and 8 tokens per run (greedyStepsGraph), one JSON line. */
const decode = async (): Promise<void> => {
  const out: Record<string, unknown> = { path: 'onnxruntime-node cuda', what: 'greedy decoding, GPT-2 small, 32 rows with a prefix bank (P=10), 64-token prompts' };
  try {
    for (const perRun of [1, 8]) {
      const m = await decodeB32Mixed({ threads: availableParallelism(), steps: 32, backend: { executionProviders: ['cuda', 'cpu'] } }, perRun);
      out[`step_ms_x${perRun}`] = Number(m.step_ms.toFixed(2));
      out[`tokens_per_s_x${perRun}`] = Math.round(m.tokens_per_s);
      out[`compile_ms_x${perRun}`] = m.details['compile_ms'];
    }
  } catch (e) {
    out['error'] = (e as Error).message.split('\n')[0]!.slice(0, 300);
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
};

if (process.argv.includes('--train')) await train();
else if (process.argv.includes('--decode')) await decode();
else await main();
