/**
 * Child process for engine.test.ts (a fresh TensorFlow.js per case): selects an engine as told
 * by argv[2] (a JSON TfjsBackendOptions, with `log: "capture"` meaning a capturing function),
 * runs a small graph and prints one JSON line to stdout with what happened.
 */
import { graph, f32 } from '@prefix-tuning/core';
import { input, param, matmul, add, tanh } from '@prefix-tuning/core/graph';
import { tfjsBackend } from '../../src/index.ts';

const opts = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const lines: string[] = [];
let before = '';
try {
  const be = tfjsBackend({ ...opts, ...(opts['log'] === 'capture' ? { log: (l: string) => lines.push(l) } : {}) } as never);
  before = be.engine;
  const info = await be.ready();
  const x = input('x', ['B', 3]);
  const g = graph({ y: tanh(add(matmul(x, param('w', [3, 2])), 1)) });
  const ex = await be.compile(g, { params: { w: f32([3, 2], [0.1, -0.2, 0.3, 0.4, -0.5, 0.6]) } });
  const y = await ex.run({ x: f32([2, 3], [1, 2, 3, 4, 5, 6]) });
  await ex.dispose();
  process.stdout.write(`${JSON.stringify({ ok: true, before, engine: be.engine, name: be.name, info, lines, y: Array.from(y['y']!.data as Float32Array) })}\n`);
} catch (e) {
  process.stdout.write(`${JSON.stringify({ ok: false, before, error: (e as Error).message, errorName: (e as Error).name, lines })}\n`);
}
