import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from './src/index.ts';
await selectEngine({ engine: 'wasm', log: false, wasmThreads: Number(process.argv[2] ?? 1) });
const time = async (name: string, f: () => tf.Tensor | tf.Tensor[], flop = 0, n = 5) => {
  for (let i = 0; i < 2; i++) { const r = f(); await (Array.isArray(r) ? r[0]! : r).data(); tf.dispose(r); }
  const c0 = process.cpuUsage(); const t = performance.now();
  for (let i = 0; i < n; i++) { const r = f(); await (Array.isArray(r) ? r[0]! : r).data(); tf.dispose(r); }
  const ms = (performance.now() - t) / n; const c = process.cpuUsage(c0); const cpu = (c.user + c.system) / 1000 / n;
  console.log(name.padEnd(40), ms.toFixed(1).padStart(8), 'ms', cpu.toFixed(1).padStart(8), 'cpu-ms', flop ? (flop / cpu / 1e6).toFixed(1) + ' GFLOP/cpu-s' : '');
};
const x = tf.randomNormal([512, 768]); const w = tf.randomNormal([768, 3072]);
await time('2d persistent W 512x768x3072', () => tf.matMul(x, w), 2 * 512 * 768 * 3072);
await time('2d fresh W (clone)', () => tf.tidy(() => tf.matMul(x, tf.add(w, 0))), 2 * 512 * 768 * 3072);
await time('  (clone alone)', () => tf.add(w, 0));
const q = tf.randomNormal([24, 256, 64]); const kT = tf.randomNormal([24, 64, 266]);
await time('batched native 24x256x64x266', () => tf.matMul(q, kT), 2 * 24 * 256 * 64 * 266, 2);
await time('per-head loop 24x256x64x266', () => tf.tidy(() => { const a = tf.unstack(q); const b = tf.unstack(kT); return tf.stack(a.map((ai, i) => tf.matMul(ai, b[i]!))); }), 2 * 24 * 256 * 64 * 266);
const cond = tf.less(tf.randomNormal([256, 266]), 0); const s = tf.randomNormal([2, 12, 256, 266]);
await time('broadcastTo bool [256,266]->[2,12,..]', () => tf.broadcastTo(cond, [2, 12, 256, 266]));
await time('broadcastTo f32 [256,266]->[2,12,..]', () => tf.tidy(() => tf.broadcastTo(tf.cast(cond, 'float32'), [2, 12, 256, 266])));
const big = tf.broadcastTo(cond, [2, 12, 256, 266]); const fill = tf.broadcastTo(tf.scalar(-1e30), [2, 12, 256, 266]);
await time('where full-size', () => tf.where(big, s, fill));
await time('where broadcast cond+scalar', () => tf.where(cond, s, tf.scalar(-1e30)));
await time('mul [2,12,256,266] by mask f32', () => tf.tidy(() => tf.add(tf.mul(s, tf.cast(cond, 'float32')), tf.mul(tf.sub(1, tf.cast(cond, 'float32')), -1e30))));
await time('softmax [2,12,256,266]', () => tf.softmax(s));
await time('transpose [2,256,12,64]->[2,12,256,64]', () => tf.transpose(tf.reshape(x, [2, 256, 12, 64]), [0, 2, 1, 3]));
await time('tanh [512,3072]', () => tf.tanh(tf.reshape(tf.matMul(x, w), [512, 3072])));
process.exit(0);
