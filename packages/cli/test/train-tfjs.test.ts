/**
 * `prefix-tune train --backend tfjs` against `--backend onnx`: the same run (tiny random GPT-2,
 * real E2E pairs, 20 steps, seed fixed) trained on TensorFlow.js gives ONNX's loss curve and
 * ONNX's adapter, and the command says which engine it ran on. With the addon that
 * scripts/install-tfjs-native.sh builds, that engine is tfjs-node, TensorFlow's C library (CI
 * sets PREFIX_TUNING_TEST_TFJS_ENGINE=node, and then the addon must be there); without it,
 * the same comparison runs on the engine the selection falls back to (wasm).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { cli, e2eDir, readSafetensors, rmrf, tempDir, tinyModelDir } from './train-fixture.ts';

const skip = !existsSync(join(e2eDir, 'trainset.csv')) && `${e2eDir} not found`;

/** Whether tfjs-node's addon is built (the selection then picks it). */
const nativeBuilt = (): boolean => {
  const req = createRequire(join(dirname(new URL(import.meta.url).pathname), '..', '..', 'backend-tfjs', 'package.json'));
  try {
    return existsSync(join(dirname(req.resolve('@tensorflow/tfjs-node/package.json')), 'lib', 'napi-v8', 'tfjs_binding.node'));
  } catch {
    return false;
  }
};

let model = '';
let work = '';
const runs: Record<'onnx' | 'tfjs', ReturnType<typeof cli>> = {} as never;
const out = (b: string): string => join(work, b);
const args = (b: 'onnx' | 'tfjs') => ['train', '--model', model, '--task', 'e2e', '--max-examples', '200', '--max-dev-examples', '20', '--epochs', '2',
  '--batch-size', '20', '--lr', '1e-2', '--backend', b, '--out', out(b)];

before(() => {
  if (skip) return;
  model = tinyModelDir();
  work = tempDir('pt-cli-train-tfjs-');
  // the engine the selection makes (auto), not one the environment names
  for (const b of ['onnx', 'tfjs'] as const) runs[b] = cli(args(b), { PREFIX_TUNING_TFJS_ENGINE: '' });
});
after(() => { rmrf(model); rmrf(work); });

const stepLosses = (b: string): number[] => readFileSync(join(out(b), 'train-log.jsonl'), 'utf8').trimEnd().split('\n')
  .map((l) => JSON.parse(l) as { type: string; loss: number }).filter((r) => r.type === 'step').map((r) => r.loss);

test('train --backend tfjs names its engine: TensorFlow (tfjs-node) where the native addon is built', { skip }, () => {
  assert.equal(runs.tfjs.code, 0, runs.tfjs.stderr);
  const built = nativeBuilt();
  if (!built && process.env['PREFIX_TUNING_TEST_TFJS_ENGINE'] === 'node') assert.fail('PREFIX_TUNING_TEST_TFJS_ENGINE=node but the tfjs-node addon is not built (run scripts/install-tfjs-native.sh)');
  const engine = built ? /\[tfjs: tfjs-node 4\.22\.0 \(TensorFlow 2\.18\.0 C library, CPU\)\]/ : /\[tfjs: tfjs wasm 4\.22\.0 \(simd, 1 thread\)\]/;
  assert.match(runs.tfjs.stdout + runs.tfjs.stderr, engine);
  // the selection's own line, once
  const lines = runs.tfjs.stderr.split('\n').filter((l) => l.startsWith('[backend-tfjs] engine:'));
  assert.equal(lines.length, 1, runs.tfjs.stderr);
});

test('the run trained on tfjs equals the ONNX run: every step loss (1e-3 relative) and the adapter (1e-4 relative)', { skip }, () => {
  assert.equal(runs.onnx.code, 0, runs.onnx.stderr);
  assert.equal(runs.tfjs.code, 0, runs.tfjs.stderr);
  const [t, o] = [stepLosses('tfjs'), stepLosses('onnx')];
  assert.equal(t.length, 20);
  assert.equal(o.length, 20);
  t.forEach((x, k) => assert.ok(Math.abs(x - o[k]!) <= 1e-3 * Math.abs(o[k]!), `step ${k + 1}: tfjs ${x} vs onnx ${o[k]}`));
  const adapter = (b: string) => readSafetensors(join(out(b), 'adapter', 'adapter_model.safetensors')).get('prompt_embeddings')!;
  const [a, b] = [adapter('tfjs'), adapter('onnx')];
  assert.deepEqual(a.shape, b.shape);
  let [d, dd, bb] = [0, 0, 0];
  for (let i = 0; i < a.data.length; i++) {
    const e = a.data[i]! - b.data[i]!;
    d = Math.max(d, Math.abs(e));
    dd += e * e;
    bb += b.data[i]! ** 2;
  }
  // the adapter's entries reach tens (lr 1e-2 on a random model): the tolerance is relative to it
  const scale = Math.max(...Array.from(b.data, Math.abs));
  assert.ok(Math.sqrt(dd / bb) < 1e-4, `|tfjs - onnx| / |onnx| over the adapter: ${Math.sqrt(dd / bb)}`);
  assert.ok(d < 1e-4 * scale, `max |tfjs - onnx| over the adapter: ${d} (largest entry ${scale})`);
});
