/**
 * The machine's own peak, measured in the same run as the other cases: one 2048x2048 by
 * 2048x2048 float32 product (2·2048³ FLOPs) on each native engine with all its threads,
 * `peak.sgemm2048.onnx` (ONNX Runtime's MLAS) and `peak.sgemm2048.tfjs-node` (TensorFlow's
 * Eigen), through the same core graph and backends as the cases (the right operand a bound
 * parameter, resident; the left one fed and the product fetched at every run, 16 MiB each way),
 * its time the fastest of the timed runs (the median is recorded beside it).
 * `withPeakFractions` gives every result its `peak_fraction`: its GFLOP/s over its own engine's
 * SGEMM GFLOP/s (onnx.* over ORT's, tfjs-node.* over TensorFlow's, torch.* and the wasm cases
 * over the larger of the two), so results from different machines can be read side by side.
 */
import { graph, f32, type Backend } from '../packages/core/src/index.ts';
import { input, param, matmul } from '../packages/core/src/graph.ts';
import { onnxBackend } from '../packages/backend-onnx/src/index.ts';
import { tfjsBackend } from '../packages/backend-tfjs/src/index.ts';
import { normal, median, type Measured } from './model.ts';

const N = 2048;

const sgemm = async (be: Backend, steps: number, details: Record<string, unknown>): Promise<Measured> => {
  const g = graph({ c: matmul(input('a', [N, N]), param('b', [N, N])) });
  const ex = await be.compile(g, { params: { b: f32([N, N], normal(N * N, 1, 21)) } });
  const feeds = { a: f32([N, N], normal(N * N, 1, 22)) };
  for (let i = 0; i < 2; i++) await ex.run(feeds); // warm-up (packing, thread pools)
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await ex.run(feeds);
    ms.push(performance.now() - t);
  }
  await ex.dispose();
  // a peak is the best the machine did: the fastest run (on a shared machine the median is the load's)
  const step = Math.min(...ms);
  return { tokens_per_s: 0, step_ms: step, flops_per_step: 2 * N ** 3, details: { n: N, timed_steps: steps, median_ms: Number(median(ms).toFixed(1)), all_ms: ms.map((m) => m.toFixed(1)).join(' '), engine: be.engine, ...details } };
};

type Case = (o: { readonly threads: number; readonly steps?: number }) => Promise<Measured>;

export const peakCases: Readonly<Record<string, Case>> = {
  'peak.sgemm2048.onnx': (o) => sgemm(onnxBackend({ intraOpNumThreads: o.threads }), o.steps ?? 10, { backend: 'onnx' }),
  'peak.sgemm2048.tfjs-node': async (o) => {
    const be = tfjsBackend({ engine: 'node', log: false });
    await be.ready();
    return sgemm(be, o.steps ?? 10, { backend: 'tfjs' });
  },
};

interface Result { readonly name: string; readonly gflops?: number }

/** Each result with `peak_fraction` and `peak_of` (see the module comment); unchanged without peaks. */
export const withPeakFractions = <R extends Result>(results: readonly R[]): (R | (R & { peak_fraction: number; peak_of: string }))[] => {
  const peak = (name: string): number | undefined => results.find((r) => r.name === name)?.gflops;
  const ort = peak('peak.sgemm2048.onnx');
  const tf = peak('peak.sgemm2048.tfjs-node');
  const best = Math.max(ort ?? 0, tf ?? 0);
  return results.map((r) => {
    if (r.gflops === undefined || r.name.startsWith('peak.')) return r;
    const [p, of] = r.name.startsWith('onnx.') && ort !== undefined ? [ort, 'peak.sgemm2048.onnx']
      : r.name.startsWith('tfjs-node.') && tf !== undefined ? [tf, 'peak.sgemm2048.tfjs-node']
        : best > 0 ? [best, ort === best ? 'peak.sgemm2048.onnx' : 'peak.sgemm2048.tfjs-node'] : [undefined, ''];
    return p === undefined ? r : { ...r, peak_fraction: Number((r.gflops / p).toFixed(3)), peak_of: of };
  });
};
