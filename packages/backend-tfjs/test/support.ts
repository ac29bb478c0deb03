/**
 * Test support: random graph-building contexts (small shapes, dims concrete or symbolic,
 * seeded values) and the comparison of backends on one graph: the reference evaluator is the
 * specification; the tfjs engines (wasm and cpu here) and ONNX Runtime must agree with it.
 * Every comparison also checks that compiling, running and disposing left no tfjs tensor alive.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import * as tf from '@tensorflow/tfjs-core';
import {
  type Backend, type Graph, type HostTensor, evaluate, decodeModelConfig, parseSafetensors, toFloat32, paramsFromCheckpoint
} from '@prefix-tuning/core';
import { graphInputs } from '@prefix-tuning/core/graph';
import { onnxBackend } from '@prefix-tuning/backend-onnx';
import { tfjsBackend, type TfjsBackend, type EngineName } from '../src/index.ts';

export const repoRoot = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
export const fixturesDir = join(repoRoot, 'fixtures');
export const sharedDir = process.env['PREFIX_TUNING_SHARED'] ?? join(repoRoot, '..', 'shared');

const quiet = { log: false } as const;
/**
 * The tfjs engine under test: wasm, or the one PREFIX_TUNING_TEST_TFJS_ENGINE names (bench/gpu.sh
 * runs this suite with node-gpu).
 */
export const engineUnderTest = (process.env['PREFIX_TUNING_TEST_TFJS_ENGINE'] || 'wasm') as EngineName;

/**
 * The backends under test: the engine under test with fused composites ('tfjs') and running
 * every composite as its decomposition ('tfjs-spec'), the pure-JS cpu engine, the wasm engine
 * itself (for its own kernels), and ONNX Runtime (one thread).
 */
export type Which = 'tfjs' | 'tfjs-spec' | 'cpu' | 'wasm' | 'onnx';
const made = new Map<Which, Backend>();
export const backendOf = (w: Which): Backend => {
  let b = made.get(w);
  if (b === undefined) {
    b = w === 'onnx' ? onnxBackend({ intraOpNumThreads: 1 })
      : tfjsBackend({ engine: w === 'cpu' ? 'cpu' : w === 'wasm' ? 'wasm' : engineUnderTest, ...(w === 'tfjs-spec' ? { fuse: false } : {}), ...quiet });
    made.set(w, b);
  }
  return b;
};
/** The tfjs engine under test (one backend per test process). */
export const tfjs = (): TfjsBackend => backendOf('tfjs') as TfjsBackend;
/** The wasm engine. */
export const wasm = (): TfjsBackend => backendOf('wasm') as TfjsBackend;

// The random graph-building context is the ONNX backend's (one generator for both backends' laws).
export { type Tok, rng, Ctx, withCtx } from '../../backend-onnx/test/support.ts';
import type { Ctx } from '../../backend-onnx/test/support.ts';

/** |got - want| <= atol + rtol |want| elementwise, same storage class (the conformance suite's). */
export { assertClose } from '../../core/test/support/conformance.ts';
import { assertClose } from '../../core/test/support/conformance.ts';

/** Compiles, runs once and disposes on `w`; asserts that no tfjs tensor outlives it. */
export const runOn = async (w: Which, g: Graph, feeds: Record<string, HostTensor>, params: Record<string, HostTensor>): Promise<Record<string, HostTensor>> => {
  const be = backendOf(w);
  if (w !== 'onnx') await (be as TfjsBackend).ready();
  const before = w === 'onnx' ? 0 : tf.memory().numTensors;
  const ex = await be.compile(g, { params });
  try {
    return await ex.run(feeds);
  } finally {
    await ex.dispose();
    if (w !== 'onnx') assert.equal(tf.memory().numTensors, before, `${w}: tensors leaked by compile/run/dispose`);
  }
};

/** Runs `g` on the reference evaluator and on the given backends and compares every output. */
export const agree = async (
  g: Graph,
  c: Pick<Ctx, 'feeds' | 'params'>,
  opts: { on?: readonly Which[]; rtol?: number; atol?: number } = {},
): Promise<void> => {
  // feed only the inputs the outputs depend on (unknown feeds are errors)
  const used = new Set(graphInputs(g).map((n) => n.attrs.name));
  const feeds = Object.fromEntries(Object.entries(c.feeds).filter(([k]) => used.has(k)));
  const want = evaluate(g, feeds, c.params);
  for (const w of opts.on ?? ['tfjs', 'cpu']) {
    const got = await runOn(w, g, feeds, c.params);
    for (const k of Object.keys(g.outputs)) assertClose(`${w} ${k}`, got[k]!, want[k]!, opts.rtol, opts.atol);
  }
};

// ---------------------------------------------------------------------------------------------
// model fixtures (written by Hugging Face transformers: tools/make_fixtures.py)

/** A model fixture: its config, parameters (checkpoint mapped to graph names) and expected.json. */
export const loadModelFixture = (name: string) => {
  const dir = join(fixturesDir, 'models', name);
  const cfgE = decodeModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  if (E.isLeft(cfgE)) throw new Error(`${name}: config: ${cfgE.left}`);
  const file = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'model.safetensors'))));
  if (E.isLeft(file)) throw new Error(`${name}: ${JSON.stringify(file.left)}`);
  const ckpt: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const [k, t] of file.right.tensors) {
    const d = toFloat32(t);
    if (E.isLeft(d)) throw new Error(`${name}: ${k}: ${JSON.stringify(d.left)}`);
    ckpt[k] = { shape: t.shape, data: d.right };
  }
  const params = paramsFromCheckpoint(cfgE.right, ckpt);
  if (E.isLeft(params)) throw new Error(`${name}: checkpoint: ${params.left}`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as any;
  return { cfg: cfgE.right, params: params.right, expected };
};

/** Names of the model fixtures with an expected.json. */
export const modelFixtureNames = (): string[] => {
  const dir = join(fixturesDir, 'models');
  return existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(join(dir, n, 'expected.json'))).sort() : [];
};
