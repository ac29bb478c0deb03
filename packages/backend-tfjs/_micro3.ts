import * as tf from '@tensorflow/tfjs-core';
import { selectEngine } from './src/index.ts';
await selectEngine({ engine: 'wasm', log: false });
const time = async (name: string, f: () => tf.Tensor, n = 10) => {
  for (let i = 0; i < 2; i++) { const r = f(); await r.data(); tf.dispose(r); }
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) { const r = f(); await r.data(); tf.dispose(r); }
  const c = process.cpuUsage(c0); console.log(name.padEnd(40), ((c.user + c.system) / 1000 / n).toFixed(2).padStart(8), 'cpu-ms');
};
const [N, M] = [512, 768];
const x = tf.randomNormal([N, M]), row = tf.randomNormal([1, M]), col = tf.randomNormal([N, 1]), x3 = tf.randomNormal([4, N, M]);
await time('same shape [N,M]+[N,M]', () => tf.add(x, x));
await time('[N,M]+[1,M] (row)', () => tf.add(x, row));
await time('[N,M]+[N,1] (col)', () => tf.add(x, col));
await time('[1,M]+[N,1] (outer)', () => tf.add(row, col));
await time('[4,N,M]+[N,M]', () => tf.add(x3, x));
await time('[4,N,M]+[4,N,1]', () => tf.add(x3, tf.reshape(tf.tile(col, [4, 1]), [4, N, 1])));
await time('[N,M]+scalar', () => tf.add(x, tf.scalar(1)));
await time('lessEqual [1,M] vs [N,1]', () => tf.lessEqual(row, col));
await time('tanh [N,M]', () => tf.tanh(x));
await time('sigmoid [N,M]', () => tf.sigmoid(x));
await time('exp [N,M]', () => tf.exp(x));
await time('transpose [2,256,12,64]', () => tf.transpose(tf.reshape(x, [2, 256, 12, 64]), [0, 2, 1, 3]));
const wpe = tf.randomNormal([1024, 768]); const pos = tf.range(10, 266, 1, 'int32');
await time('gather wpe 256 rows', () => tf.gather(wpe, pos));
await time('slice wpe 256 rows', () => tf.slice(wpe, [10, 0], [256, 768]));
process.exit(0);
