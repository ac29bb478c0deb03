/**
 * Crash safety and exact resume of `prefix-tune train`: a run killed with SIGKILL at random
 * moments after its first checkpoint (twice), then resumed, ends with the adapter and the log of
 * an uninterrupted run; Ctrl-C (SIGINT) saves a checkpoint and exits with 130. The runs use
 * gradient accumulation and prefix dropout, so a kill can fall inside an accumulation group and
 * the dropout masks must be reproduced.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { cli, cliSpawn, e2eDir, readSafetensors, rmrf, tempDir, tinyModelDir, sleep, manifestStep, adapterOf, stepLog } from './train-fixture.ts';

const skip = !existsSync(join(e2eDir, 'trainset.csv')) && `${e2eDir} not found`;
let model = '';
let work = '';
const args = (out: string) => ['train', '--model', model, '--task', 'e2e', '--max-examples', '200', '--max-dev-examples', '20', '--epochs', '2',
  '--batch-size', '10', '--grad-accum', '2', '--prefix-dropout', '0.1', '--lr', '3e-3', '--checkpoint-every', '1', '--backend', 'onnx', '-q', '--out', out];
let reference = '';

before(() => {
  if (skip) return;
  model = tinyModelDir();
  work = tempDir('pt-cli-resume-');
  reference = join(work, 'reference');
  const r = cli(args(reference));
  assert.equal(r.code, 0, r.stderr);
});
after(() => { rmrf(model); rmrf(work); });

const exited = (p: ChildProcess) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on('exit', (code, signal) => r({ code, signal })));

/** Waits until the run in `out` has a checkpoint at a step > `after` (or the process ended). */
const waitForCheckpoint = async (out: string, after: number, p: ChildProcess, done: () => boolean): Promise<number | undefined> => {
  for (let i = 0; i < 2400 && !done(); i++) {
    const s = manifestStep(out);
    if (s !== undefined && s > after) return s;
    await sleep(25);
  }
  return manifestStep(out);
};


const assertSameAsReference = (out: string) => {
  const a = adapterOf(reference), b = adapterOf(out);
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  assert.ok(worst <= 1e-6, `max |resumed - uninterrupted| = ${worst}`);
  assert.deepEqual(stepLog(out), stepLog(reference), 'the log of the resumed run (timings aside)');
};

test('SIGKILL at random moments after a checkpoint, then --resume: the adapter of an uninterrupted run', { skip }, async () => {
  const out = join(work, 'killed');
  let lastStep = 0;
  for (let round = 0; round < 2; round++) {
    const p = cliSpawn(round === 0 ? args(out) : ['train', '--out', out, '--resume', '-q']);
    let finished = false;
    const ended = exited(p).then((e) => { finished = true; return e; });
    const at = await waitForCheckpoint(out, lastStep, p, () => finished);
    const delay = Math.floor(Math.random() * 400);
    await sleep(delay);
    p.kill('SIGKILL');
    const e = await ended;
    const step = manifestStep(out);
    assert.ok(step !== undefined, `round ${round}: no checkpoint after the kill`);
    // 20 updates in all: the kill must have come before the end for the test to mean anything
    assert.ok(e.signal === 'SIGKILL' && step! < 20, `round ${round}: the run ended (${JSON.stringify(e)}, step ${step}) before the kill ${delay} ms after the checkpoint at ${at}`);
    lastStep = step!;
  }
  const r = cli(['train', '--out', out, '--resume', '-q']);
  assert.equal(r.code, 0, r.stderr);
  assertSameAsReference(out);
});

test('SIGINT saves a checkpoint and exits with 130; --resume then ends exactly as an uninterrupted run', { skip }, async () => {
  const out = join(work, 'interrupted');
  const p = cliSpawn(args(out));
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  let finished = false;
  const ended = exited(p).then((e) => { finished = true; return e; });
  await waitForCheckpoint(out, 0, p, () => finished);
  p.kill('SIGINT');
  const e = await ended;
  assert.equal(e.code, 130, stderr);
  assert.match(stderr, new RegExp(`interrupted: checkpoint saved in ${out}/checkpoint \\(step \\d+\\); continue with: prefix-tune train --out ${out} --resume`));
  assert.ok(!existsSync(join(out, 'adapter')), 'no adapter before the run ends');
  const r = cli(['train', '--out', out, '--resume', '-q']);
  assert.equal(r.code, 0, r.stderr);
  assertSameAsReference(out);
});
