import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from './src/index.ts';
await selectEngine({ engine: 'wasm', log: false });
const time = async (name: string, f: () => tf.Tensor | tf.Tensor[], flop = 0, n = 5) => {
  for (let i = 0; i < 2; i++) { const r = f(); await (Array.isArray(r) ? r[0]! : r).data(); tf.dispose(r); }
  const c0 = process.cpuUsage(); const t = performance.now();
  for (let i = 0; i < n; i++) { const r = f(); await (Array.isArray(r) ? r[0]! : r).data(); tf.dispose(r); }
  const ms = (performance.now() - t) / n; const c = process.cpuUsage(c0); const cpu = (c.user + c.system) / 1000 / n;
  console.log(name.padEnd(44), ms.toFixed(1).padStart(8), 'ms', cpu.toFixed(2).padStart(8), 'cpu-ms', flop ? (flop / cpu / 1e6).toFixed(1) + ' GFLOP/cpu-s' : '');
};
const S = [2, 12, 256, 266];
const cond = tf.less(tf.randomNormal([256, 266]), 0); const xf = tf.randomNormal([256, 266]);
await time('mul by ones f32', () => tf.tidy(() => tf.mul(xf, tf.ones(S))));
await time('ones alone', () => tf.ones(S));
await time('logicalAnd bool with true-full', () => tf.tidy(() => tf.logicalAnd(cond, tf.fill(S, 1, 'bool'))));
await time('cast-int mul-ones cast-bool', () => tf.tidy(() => tf.cast(tf.mul(tf.cast(cond, 'int32'), tf.ones(S, 'int32')), 'bool')));
await time('tile f32', () => tf.tile(tf.reshape(xf, [1, 1, 256, 266]), [2, 12, 1, 1]));
const s = tf.randomNormal(S);
await time('where(c_full, s, fill_full)', () => tf.tidy(() => tf.where(tf.logicalAnd(cond, tf.fill(S, 1, 'bool')), s, tf.fill(S, -1e30))));
const a = tf.randomNormal([256, 64]); const b = tf.randomNormal([64, 266]); const b2 = tf.randomNormal([266, 64]);
await time('2d 256x64x266 persistent b', () => tf.matMul(a, b), 2 * 256 * 64 * 266, 20);
await time('2d 256x64x266 fresh b', () => tf.tidy(() => tf.matMul(a, tf.mul(b, 1))), 2 * 256 * 64 * 266, 20);
await time('  mul b alone', () => tf.mul(b, 1), 0, 20);
const p = tf.randomNormal([256, 266]);
await time('2d 256x266x64 persistent b (PV)', () => tf.matMul(p, b2), 2 * 256 * 64 * 266, 20);
await time('2d 256x266x64 fresh b (PV)', () => tf.tidy(() => tf.matMul(p, tf.mul(b2, 1))), 2 * 256 * 64 * 266, 20);
const q = tf.randomNormal([24, 256, 64]); const kT = tf.randomNormal([24, 64, 266]);
await time('unstack+stack alone', () => tf.tidy(() => tf.stack(tf.unstack(q))));
await time('split alone', () => tf.split(tf.reshape(q, [24 * 256, 64]), 24));
await time('slice x24 alone', () => tf.tidy(() => tf.concat(Array.from({ length: 24 }, (_, i) => tf.slice(q, [i, 0, 0], [1, 256, 64])))));
// block-diagonal trick: one big matmul with all heads? Q [24*256, 64] @ Kcat [64, 24*266] -> computes all cross products (24x waste)
process.exit(0);
