/**
 * The training command's pure helpers and file formats, in process: checkpoints (round trip,
 * leftovers of a crash, corruption), the JSONL log (torn lines, truncation on resume), the SVG
 * loss curve and the progress line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type { HostTensor, TrainState } from '@prefix-tuning/core';
import { loadCheckpoint, saveCheckpoint } from '../src/run/checkpoint.ts';
import { appendLog, parseLog, readLog, truncateLog, type LogRecord } from '../src/run/log.ts';
import { lossCurveSvg, ticks } from '../src/run/svg.ts';
import { barLine, formatDuration, plainLine } from '../src/run/progress.ts';
import { rmrf, tempDir, xmlTags } from './train-fixture.ts';

const f32 = (shape: number[], xs: number[]): HostTensor => ({ dtype: 'float32', shape, data: Float32Array.from(xs) });
const meta = { run: { lr: 1 }, model: { digest: 'm', description: 'tiny' }, data: { digest: 'd', train: 3, dev: 1 }, extra: { elapsed: 2 } };
const state = (step: number, withBest: boolean): TrainState => ({
  step, epoch: 1, batchInEpoch: 2, bestDevLoss: withBest ? 1.5 : null, badEpochs: 0, done: false,
  tensors: { 'prefix.embedding.weight': f32([2, 2], [step, 2, 3, 4]), 'prefix.embedding.weight:m': f32([2, 2], [0.1, 0.2, 0.3, 0.4]) },
  best: withBest ? { 'prefix.embedding.weight': f32([2, 2], [9, 8, 7, 6]) } : null,
});

test('a checkpoint reads back as the state it was written from', async () => {
  const dir = tempDir('pt-ckpt-');
  try {
    for (const withBest of [false, true]) {
      const s = state(7, withBest);
      await saveCheckpoint(dir, s, meta);
      const r = await loadCheckpoint(dir);
      assert.ok(E.isRight(r), E.isLeft(r) ? r.left : '');
      assert.deepEqual(r.right.state, s);
      assert.deepEqual(r.right.manifest.extra, meta.extra);
    }
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.safetensors')).length, 1, 'older tensor files are removed');
  } finally {
    rmrf(dir);
  }
});

test('leftovers of a crash between the two writes are ignored, then cleaned', async () => {
  const dir = tempDir('pt-ckpt-');
  try {
    await saveCheckpoint(dir, state(3, false), meta);
    // a crash after the new tensor file was renamed into place, before the manifest: plus a torn temp file
    writeFileSync(join(dir, 'state-4-deadbeef.safetensors'), 'partial');
    writeFileSync(join(dir, '.state-5-0.safetensors.123.abcd.tmp'), 'torn');
    writeFileSync(join(dir, '.checkpoint.json.123.abcd.tmp'), '{"torn');
    const r = await loadCheckpoint(dir);
    assert.ok(E.isRight(r));
    assert.equal(r.right.state.step, 3);
    await saveCheckpoint(dir, state(6, false), meta);
    assert.deepEqual(readdirSync(dir).filter((f) => f !== 'checkpoint.json').length, 1, readdirSync(dir).join(', '));
    const r2 = await loadCheckpoint(dir);
    assert.ok(E.isRight(r2) && r2.right.state.step === 6);
  } finally {
    rmrf(dir);
  }
});

test('any damage to a checkpoint is detected and named', async () => {
  await fc.assert(fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (at, flip) => {
    const dir = tempDir('pt-ckpt-');
    try {
      await saveCheckpoint(dir, state(2, true), meta);
      const f = readdirSync(dir).find((x) => x.endsWith('.safetensors'))!;
      const bytes = readFileSync(join(dir, f));
      bytes[at % bytes.length] ^= flip;
      writeFileSync(join(dir, f), bytes);
      const r = await loadCheckpoint(dir);
      assert.ok(E.isLeft(r) && r.left.includes(f) && r.left.includes('corrupt checkpoint'), E.isLeft(r) ? r.left : 'accepted a damaged file');
    } finally {
      rmrf(dir);
    }
  }), { numRuns: 20 });
  const dir = tempDir('pt-ckpt-');
  try {
    await saveCheckpoint(dir, state(2, true), meta);
    const m = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'));
    delete m.counters.step;
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify(m));
    const r = await loadCheckpoint(dir);
    assert.ok(E.isLeft(r) && /corrupt checkpoint: .*counters.*step/.test(r.left), E.isLeft(r) ? r.left : '');
  } finally {
    rmrf(dir);
  }
});

const step = (n: number, loss: number): LogRecord => ({ type: 'step', step: n, epoch: 1, loss, lr: 1e-3, grad_norm: 1, tokens: 10, tokens_per_s: 100, elapsed: n });

test('the log skips a torn last line, and a resume cuts it back to the checkpoint', async () => {
  const dir = tempDir('pt-log-');
  try {
    const p = join(dir, 'train-log.jsonl');
    for (let i = 1; i <= 5; i++) appendLog(p, step(i, 5 - i / 10));
    appendLog(p, { type: 'epoch', epoch: 1, step: 5, train_loss: 4.7, dev_loss: 4.5, best: true, elapsed: 6 });
    for (let i = 6; i <= 8; i++) appendLog(p, step(i, 4));
    writeFileSync(p, `${readFileSync(p, 'utf8')}{"type":"step","step":9,"ep`);
    assert.equal(readLog(p).length, 9);
    const kept = await truncateLog(p, 6, 1);
    assert.deepEqual(kept.map((r) => `${r.type}${r.type === 'step' ? r.step : r.epoch}`), ['step1', 'step2', 'step3', 'step4', 'step5', 'epoch1', 'step6']);
    assert.deepEqual(parseLog(readFileSync(p, 'utf8')), kept);
    assert.equal(parseLog('{"type":"step"}\nnot json\n').length, 0, 'records missing fields are not records');
  } finally {
    rmrf(dir);
  }
});

test('the loss curve is well-formed SVG for any log, with one point per step', () => {
  fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { maxLength: 60 }), fc.boolean(), (losses, dev) => {
    const recs: LogRecord[] = losses.map((l, i) => step(i + 1, l));
    if (dev && losses.length > 0) recs.push({ type: 'epoch', epoch: 1, step: losses.length, train_loss: 1, dev_loss: losses[0]!, best: true, elapsed: 1 });
    const svg = lossCurveSvg(recs, 'a <title> & more');
    assert.equal(xmlTags(svg)[0], 'svg');
    const polys = [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1]!.trim().split(/\s+/).length);
    if (losses.length === 0) assert.match(svg, /no steps yet/);
    else assert.ok(polys.filter((n) => n === losses.length).length >= 2, `train line and moving average: ${polys.join(',')}`);
    for (const m of svg.matchAll(/\s(?:x|y|cx|cy|x1|x2|y1|y2)="([^"]+)"/g)) assert.ok(Number.isFinite(Number(m[1])), m[0]);
  }), { numRuns: 60 });
  fc.assert(fc.property(fc.double({ min: -1e3, max: 1e3, noNaN: true }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (lo, span) => {
    const t = ticks(lo, lo + span);
    assert.ok(t.length >= 2 && t.length <= 12, `${lo}..${lo + span}: ${t.join(',')}`);
    for (const v of t) assert.ok(v >= lo - 1e-9 * Math.abs(lo) - 1e-9 && v <= lo + span + 1e-9 * Math.abs(lo + span) + 1e-9);
  }));
});

test('the progress line shows the percentage, the step, the loss, tokens/s and the ETA, within the width', () => {
  const p = { done: 30, total: 120, epoch: 2, epochs: 4, step: 15, totalSteps: 60, loss: 2.5, tokensPerS: 12345, etaS: 3725 };
  const bar = barLine(p, 120);
  assert.match(bar, /^\[#{10}\.{30}\] 25% epoch 2\/4 step 15\/60 loss 2\.5000 12\.3k tok\/s ETA 1h02m$/);
  for (const w of [20, 40, 80, 200]) assert.ok(barLine(p, w).length <= Math.max(20, w - 1));
  assert.equal(plainLine(p), 'step 15/60 epoch 2/4 loss 2.5000 12.3k tok/s eta 1h02m');
  assert.deepEqual([formatDuration(42), formatDuration(185), formatDuration(NaN)], ['42s', '3m05s', '?']);
});
