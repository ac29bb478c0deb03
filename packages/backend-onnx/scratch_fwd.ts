import * as E from 'fp-ts/lib/Either.js';
import { decodeModelConfig } from '../core/src/models/config.ts';
import { causalLmGraph } from '../core/src/models/causal.ts';
import { graphParams, type HostTensor } from '@prefix-tuning/core';
import { onnxBackend } from './src/index.ts';
const cfgE = decodeModelConfig({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 });
if (E.isLeft(cfgE)) throw new Error(cfgE.left);
const cfg = cfgE.right as any;
const g = causalLmGraph(cfg, { loss: 'mean' });
const params: Record<string, HostTensor> = {};
let seed = 1;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 - 0.5; };
for (const p of graphParams(g)) {
  const n = (p.shape as number[]).reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  const isLn = p.attrs.name.includes('ln_');
  for (let i = 0; i < n; i++) d[i] = isLn && p.attrs.name.endsWith('weight') ? 1 : rnd() * 0.04;
  params[p.attrs.name] = { dtype: 'float32', shape: p.shape as number[], data: d };
}
const weights = (process.argv[2] ?? 'initializers') as any;
const threads = Number(process.argv[3] ?? 2);
const t0 = performance.now();
const be = onnxBackend({ weights, intraOpNumThreads: threads, ...(process.argv[4] ? { profilePrefix: process.argv[4] } : {}) });
const ex = await be.compile(g, { params });
console.log('compile ms', performance.now() - t0, 'rss', process.memoryUsage().rss / 1e6);
const B = 5, T = 128;
const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % 50257);
const feeds = { input_ids: { dtype: 'int32' as const, shape: [B, T], data: ids }, labels: { dtype: 'int32' as const, shape: [B, T], data: ids } };
for (let i = 0; i < 4; i++) {
  const t = performance.now();
  const r = await ex.run(feeds, ['loss']);
  const ms = performance.now() - t;
  const N = 85e6, tok = B * T;
  const fl = 2 * 84.9e6 * tok + 2 * 768 * 50257 * tok + 12 * 4 * tok * T * 768;
  console.log('run ms', ms.toFixed(1), 'loss', r.loss!.data[0], 'GFLOP/s', (fl / ms / 1e6).toFixed(1), 'rss', (process.memoryUsage().rss / 1e6).toFixed(0));
}
