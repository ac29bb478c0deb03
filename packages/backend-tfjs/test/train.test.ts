/**
 * Training on TensorFlow.js: the same prefix-tuning run (tiny GPT-2 fixture written by
 * transformers, an E2E subset, fixed seed, core's AdamW train-step graph) gives the same loss
 * curve on tfjs (the engine under test: wasm here), on ONNX Runtime and on the reference evaluator; and training keeps
 * device memory flat: after 100 steps the number of live tfjs tensors is what it was after the
 * first step, and disposing the executable returns it to what it was before compiling.
 *
 * Data: the first rows of ../shared/data/e2e/trainset.csv as `<name> || <ref>` (the fixture has
 * 64 positions, so the source is only the restaurant's name), tokenized byte-level (UTF-8
 * bytes modulo the fixture's 128-token vocabulary: the real GPT-2 tokenizer's ids do not fit a
 * 128-token model), the source ignored by the loss (label -100), right-padded to 56 tokens.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  type Backend, type HostTensor, type CausalLmConfig, inject, modelSites, injectedTrainGraph, referenceBackend, f32, i32,
} from '@prefix-tuning/core';
import { trainStepGraph, trainState, trainInternalOutputs, type AdamWConfig } from '../../core/src/train/index.ts';
import { backendOf, loadModelFixture, rng, sharedDir, tfjs } from './support.ts';
import type { TfjsExecutable } from '../src/index.ts';

const e2ePath = join(sharedDir, 'data', 'e2e', 'trainset.csv');

/** The first `n` records of a CSV file with a header (RFC 4180 quoting). */
const readCsv = (path: string, n: number): string[][] => {
  const text = readFileSync(path, 'utf8');
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length && rows.length <= n; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (ch === '"') quoted = false; else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') { row.push(field); field = ''; } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      rows.push(row);
      row = [];
    } else field += ch;
  }
  return rows.slice(1, n + 1);
};

const bytes = (s: string, vocab: number): number[] => [...Buffer.from(s, 'utf8')].map((b) => b % vocab);

/** Batches of [B, T]: input_ids, attention_mask (1 = real), labels (-100 on the source and padding). */
const batches = (rows: readonly string[][], vocab: number, B: number, T: number) => {
  const sep = bytes(' || ', vocab);
  const out: Record<string, HostTensor>[] = [];
  for (let s = 0; s + B <= rows.length; s += B) {
    const ids = new Int32Array(B * T);
    const mask = new Int32Array(B * T);
    const labels = new Int32Array(B * T).fill(-100);
    rows.slice(s, s + B).forEach(([mr, ref], r) => {
      const name = /name\[([^\]]*)\]/.exec(mr!)?.[1] ?? '';
      const src = [...bytes(name, vocab), ...sep];
      const tgt = bytes(ref!, vocab);
      const seq = [...src, ...tgt].slice(0, T);
      seq.forEach((t, j) => {
        ids[r * T + j] = t;
        mask[r * T + j] = 1;
        if (j >= src.length) labels[r * T + j] = t;
      });
    });
    out.push({ input_ids: i32([B, T], ids), attention_mask: i32([B, T], mask), labels: i32([B, T], labels) });
  }
  return out;
};

/** The prefix-tuning step of the tiny GPT-2 fixture, its initial state and its batches. */
const setup = () => {
  const { cfg, params } = loadModelFixture('gpt2-tiny');
  const inj = inject(modelSites(cfg), { kind: 'prefix', length: 5, reparam: { kind: 'mlp', hidden: 32 } });
  const lossGraph = injectedTrainGraph(cfg, inj, { loss: 'mean' });
  const opt: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
  const g = trainStepGraph(lossGraph.outputs['loss']!, inj.trainable, opt);
  const r = rng(20240611);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const init: Record<string, HostTensor> = {};
  for (const s of inj.trainable) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const v = Float32Array.from({ length: n }, () =>
      s.init.kind === 'normal' ? s.init.std * normal() : s.init.kind === 'uniform' ? s.init.bound * (2 * r() - 1) : 0);
    init[s.name] = f32(s.shape, v);
  }
  const vocab = (cfg as CausalLmConfig & { vocab_size: number }).vocab_size;
  const data = batches(readCsv(e2ePath, 80), vocab, 4, 56);
  const compile = (be: Backend) => be.compile(g, { params, state: trainState(inj.trainable, init, opt), internalOutputs: trainInternalOutputs(g) });
  return { g, inj, data, compile };
};

const curve = async (be: Backend, steps: number): Promise<number[]> => {
  const { data, compile } = setup();
  const ex = await compile(be);
  const losses: number[] = [];
  try {
    for (let k = 1; k <= steps; k++) {
      const out = await ex.run({ ...data[(k - 1) % data.length]!, lr: f32([], [5e-3]), step: f32([], [k]) }, ['loss']);
      losses.push(out['loss']!.data[0] as number);
    }
  } finally {
    await ex.dispose();
  }
  return losses;
};

describe('prefix-tuning a tiny GPT-2 on E2E', { skip: existsSync(e2ePath) ? false : `no E2E data at ${e2ePath}` }, () => {
  const STEPS = 20;
  const curves: Record<string, number[]> = {};
  before(async () => {
    curves['tfjs'] = await curve(tfjs(), STEPS);
    curves['onnx'] = await curve(backendOf('onnx'), STEPS);
    curves['reference'] = await curve(referenceBackend(), STEPS);
  });

  it('the 20-step loss curve is the same on tfjs and ONNX (1e-3 relative), and both equal the reference evaluator', (ctx) => {
    const [t, o, r] = [curves['tfjs']!, curves['onnx']!, curves['reference']!];
    const rel = (a: number[], b: number[]) => Math.max(...a.map((x, k) => Math.abs(x - b[k]!) / Math.abs(b[k]!)));
    ctx.diagnostic(`tfjs losses: ${t.map((x) => x.toFixed(4)).join(' ')}`);
    ctx.diagnostic(`max relative difference: tfjs/onnx ${rel(t, o).toExponential(2)}, tfjs/reference ${rel(t, r).toExponential(2)}`);
    assert.equal(t.length, STEPS);
    for (let k = 0; k < STEPS; k++) {
      assert.ok(Number.isFinite(t[k]!), `step ${k + 1}: tfjs loss ${t[k]}`);
      assert.ok(Math.abs(t[k]! - o[k]!) <= 1e-3 * Math.abs(o[k]!), `step ${k + 1}: tfjs ${t[k]} vs onnx ${o[k]}`);
      assert.ok(Math.abs(t[k]! - r[k]!) <= 1e-3 * Math.abs(r[k]!), `step ${k + 1}: tfjs ${t[k]} vs reference ${r[k]}`);
    }
  });

  it('the run learns: the last five losses average below the first five', () => {
    const t = curves['tfjs']!;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(mean(t.slice(-5)) < mean(t.slice(0, 5)), `losses ${t.map((x) => x.toFixed(3)).join(' ')}`);
  });

  it('100 train steps leave no tensor behind (tf.memory().numTensors is flat), and dispose frees everything', async () => {
    const be = tfjs();
    await be.ready();
    const { data, compile } = setup();
    const before0 = tf.memory().numTensors;
    const ex = await compile(be);
    const resident = tf.memory().numTensors;
    assert.equal(resident - before0, (ex as TfjsExecutable).residentTensors(), 'compile holds exactly its resident tensors');
    const counts: number[] = [];
    for (let k = 1; k <= 100; k++) {
      await ex.run({ ...data[(k - 1) % data.length]!, lr: f32([], [5e-3]), step: f32([], [k]) }, ['loss']);
      counts.push(tf.memory().numTensors);
    }
    assert.ok(counts.every((c) => c === resident), `live tensors per step: ${[...new Set(counts)].join(', ')} (resident ${resident})`);
    // a failing run (a feed of the wrong shape) leaves nothing behind either
    await assert.rejects(ex.run({ ...data[0]!, input_ids: i32([4, 3], new Array(12).fill(0)), lr: f32([], [5e-3]), step: f32([], [101]) }), /T/);
    assert.equal(tf.memory().numTensors, resident);
    await ex.dispose();
    assert.equal(tf.memory().numTensors, before0);
  });
});
