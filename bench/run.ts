/**
 * Benchmarks: `pnpm -s bench [--only NAME|PREFIX,...] [--out FILE] [--threads N] [--steps N] [--torch PYTHON] [--ep cpu|cuda]`.
 * With `--torch PYTHON` (an interpreter with torch, transformers and peft), each ONNX case is
 * followed by its PyTorch mirror (tools/bench_torch.py: same model, shapes, repetitions and FLOP
 * formulas; PEFT for the prefix), so the two are measured back to back under the same load.
 * `--ep cuda` runs the ONNX cases on onnxruntime-node's CUDA execution provider and the PyTorch
 * mirrors on the GPU (bench/gpu.sh); the default is the CPU. It does not apply to the tfjs cases
 * (their results carry no `ep`: the engine is in their name).
 * Each benchmark runs in its own Node process (so its peak RSS is its own); results go to
 * FILE (default bench/results/latest.json) as
 *   { machine: {...}, results: [{ name, backend, tokens_per_s, step_ms, gflops, flops_per_step, peak_rss_mb, ... }] }.
 * FLOPs are counted analytically (bench/model.ts states the formulas); gflops = flops_per_step / step time.
 * `peak.sgemm2048.onnx` and `peak.sgemm2048.tfjs-node` measure the machine's own peak in the same
 * run (bench/peak.ts); when they ran, every other result carries `peak_fraction` (its GFLOP/s over
 * its own engine's SGEMM GFLOP/s) and `peak_of`, so results from different machines can be read.
 */
import { spawnSync } from 'node:child_process';
import { cpus, totalmem, loadavg, availableParallelism } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onnxRuntimeVersion } from '../packages/backend-onnx/src/index.ts';
import { cases, NAMED_ONLY } from './cases.ts';
import { withPeakFractions } from './peak.ts';

const here = dirname(fileURLToPath(import.meta.url));

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

const threads = Number(arg('threads') ?? availableParallelism());
const steps = arg('steps') === undefined ? undefined : Number(arg('steps'));
const ep = arg('ep') ?? 'cpu';
if (ep !== 'cpu' && ep !== 'cuda') { console.error(`--ep ${ep}: expected cpu or cuda`); process.exit(2); }

/** The GPU as nvidia-smi names it (name, driver, memory), or why it cannot say. */
const gpuName = (): string => {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : `unknown (nvidia-smi: ${r.error?.message ?? r.stderr.trim()})`;
};

const child = async (name: string): Promise<void> => {
  const f = cases[name];
  if (!f) throw new Error(`unknown benchmark ${name}`);
  const load0 = loadavg()[0]!;
  // --ep selects onnxruntime-node's execution provider: it applies to the ONNX cases only
  const onnx = name.startsWith('onnx.');
  const m = await f({ threads, ...(steps === undefined ? {} : { steps }), ...(onnx && ep === 'cuda' ? { backend: { executionProviders: ['cuda', 'cpu'] } } : {}) });
  const rss = process.resourceUsage().maxRSS / 1024; // KiB -> MiB
  process.stdout.write(`${JSON.stringify({
    name, backend: 'onnx', ...(onnx ? { ep } : {}), tokens_per_s: m.tokens_per_s, step_ms: m.step_ms, gflops: m.flops_per_step / (m.step_ms / 1000) / 1e9,
    flops_per_step: m.flops_per_step, peak_rss_mb: Math.round(rss), threads, load_avg_1m: [load0, loadavg()[0]!].map((x) => Number(x.toFixed(2))), ...m.details,
  })}\n`);
};

const main = (): void => {
  const only = arg('only')?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  // a name that is not a case selects the cases under it (`--only serve`: serve.*), named-only cases excepted
  const under = (p: string) => Object.keys(cases).filter((n) => n.startsWith(`${p}.`) && !NAMED_ONLY.has(n));
  const names = only ? only.flatMap((n) => (cases[n] ? [n] : under(n).length > 0 ? under(n) : [n])) : Object.keys(cases).filter((n) => !NAMED_ONLY.has(n));
  for (const n of names) if (!cases[n]) { console.error(`unknown benchmark '${n}' (known: ${Object.keys(cases).join(', ')})`); process.exit(2); }
  const out = resolve(arg('out') ?? join(here, 'results', 'latest.json'));
  const results: unknown[] = [];
  const python = arg('torch');
  const extra = [...(arg('threads') ? ['--threads', String(threads)] : []), ...(steps === undefined ? [] : ['--steps', String(steps)]), '--ep', ep];
  const runOne = (n: string, cmd: string, args: string[]): void => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 });
    if (r.status !== 0) { console.error(`${n}: failed (exit ${r.status ?? r.error?.message})`); process.exitCode = 1; return; }
    const line = r.stdout.trim().split('\n').pop()!;
    const res = JSON.parse(line) as { name: string; tokens_per_s: number; step_ms: number; gflops: number; peak_rss_mb: number };
    results.push(res);
    console.error(`${n}: ${res.step_ms.toFixed(1)} ms/step, ${res.tokens_per_s.toFixed(1)} tokens/s, ${res.gflops.toFixed(1)} GFLOP/s, peak RSS ${res.peak_rss_mb} MB`);
  };
  for (const n of names) {
    runOne(n, process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', n, ...extra]);
    if (python && n.startsWith('onnx.')) {
      const mirror = n.replace(/^onnx\./, 'torch.');
      runOne(mirror, python, [join(here, '..', 'tools', 'bench_torch.py'), '--case', mirror, '--threads', String(threads), '--device', ep, ...(steps === undefined ? [] : ['--steps', String(steps)])]);
    }
  }
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version, onnxruntime: onnxRuntimeVersion, platform: `${process.platform}-${process.arch}`, date: new Date().toISOString(),
    ...(ep === 'cuda' ? { gpu: gpuName() } : {}),
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ machine, results: withPeakFractions(results as { name: string; gflops?: number }[]) }, null, 2)}\n`);
  console.error(`wrote ${out}`);
};

/** The usage, printed by --help (nothing runs). */
const USAGE = [
  'usage: pnpm -s bench [--only NAME|PREFIX,...] [--out FILE] [--threads N] [--steps N] [--torch PYTHON] [--ep cpu|cuda]',
  '',
  '  --only     cases to run: names, or prefixes selecting the cases under them (default: all but the named-only ones)',
  '  --out      results file (default bench/results/latest.json)',
  '  --threads  intra-op threads (default: the available cores)',
  '  --steps    timed steps per case (default: each case\'s own)',
  '  --torch    an interpreter with torch, transformers and peft: each ONNX case is followed by its PyTorch mirror',
  '  --ep       cpu | cuda: execution provider of the ONNX cases (default cpu)',
  '',
  `cases: ${Object.keys(cases).join(', ')}`,
  `named only (run with --only NAME): ${[...NAMED_ONLY].join(', ')}`,
].join('\n');

if (process.argv.includes('--help') || process.argv.includes('-h')) console.log(USAGE);
else if (process.argv.includes('--child')) await child(arg('child')!);
else main();
