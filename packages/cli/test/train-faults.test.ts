/**
 * Faults around `prefix-tune train` (issue 18): two trainers on one --out, SIGKILL and SIGTERM
 * at seeded random moments, then a resume to the end must give the adapter and the log of an
 * uninterrupted run; a diverging run fails; an adapter with NaN values is refused at load;
 * output paths that cannot hold a run are refused in one line before any work.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import { cli, cliSpawn, e2eDir, repoRoot, readSafetensors, rmrf, tempDir, tinyModelDir, sleep, manifestStep, adapterOf, stepLog } from './train-fixture.ts';
import { printable } from '../src/run/printable.ts';
import { pidDead } from '../src/run/lock.ts';

const skip = !existsSync(join(e2eDir, 'trainset.csv')) && `${e2eDir} not found`;
let model = '';
let work = '';
let reference = '';
const args = (out: string) => ['train', '--model', model, '--task', 'e2e', '--max-examples', '200', '--max-dev-examples', '20', '--epochs', '2',
  '--batch-size', '10', '--grad-accum', '2', '--lr', '3e-3', '--checkpoint-every', '1', '--backend', 'onnx', '-q', '--out', out];

before(() => {
  if (skip) return;
  model = tinyModelDir();
  work = tempDir('pt-cli-faults-');
  reference = join(work, 'reference');
  const r = cli(args(reference));
  assert.equal(r.code, 0, r.stderr);
});
after(() => { rmrf(model); rmrf(work); });

/** mulberry32: the kill moments are reproducible from the seed printed on failure. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
interface Ended { code: number | null; signal: NodeJS.Signals | null; stderr: string }
const run = (a: readonly string[]): { p: ChildProcess; ended: Promise<Ended> } => {
  const p = cliSpawn(a);
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  return { p, ended: new Promise((r) => p.on('exit', (code, signal) => r({ code, signal, stderr }))) };
};

test('two trainers on one --out killed at random moments (SIGKILL, SIGTERM), then resumed: the adapter and log of one uninterrupted run', { skip, timeout: 120_000 }, async () => {
  const seed = Number(process.env['FAULT_SEED'] ?? 18);
  const rand = prng(seed);
  const out = join(work, 'contested');
  const referenceB = join(work, 'reference-lr-1e-3');
  const refusals: string[] = [];
  let killed = 0;
  for (let round = 0; round < 3; round++) {
    const started = existsSync(join(out, 'checkpoint', 'checkpoint.json'));
    // two different runs (--lr), as in the issue: whichever owns --out must end as itself alone
    const a = started ? ['train', '--out', out, '--resume', '-q'] : args(out);
    const b = started ? a : [...args(out), '--lr', '1e-3'];
    const first = run(a);
    await sleep(Math.floor(rand() * 1200));
    const procs = [first, run(b)];
    const stepBefore = manifestStep(out) ?? 0;
    await Promise.all(procs.map(async ({ p, ended }) => {
      // a kill at a random moment after this round's first new checkpoint (or, for one in three, before any)
      const delay = Math.floor(rand() * 400);
      const sig: NodeJS.Signals = rand() < 0.5 ? 'SIGKILL' : 'SIGTERM';
      const early = rand() < 0.33;
      let done = false;
      const e0 = ended.then((e) => { done = true; return e; });
      for (let i = 0; i < 3000 && !done && !early && (manifestStep(out) ?? 0) <= stepBefore; i++) await sleep(10);
      await sleep(delay);
      p.kill(sig);
      const e = await e0;
      const ctx = `seed ${seed}, round ${round}, ${sig} ${delay} ms after ${early ? 'the start' : 'a checkpoint'}: ${JSON.stringify(e)}`;
      // refused (the other one holds --out), stopped by the signal (143: with a checkpoint), killed, or finished
      assert.ok(e.code === 2 || e.code === 143 || e.code === 0 || e.signal === 'SIGKILL' || e.signal === 'SIGTERM', ctx);
      if (e.code === 2) {
        // the other holds --out, or (a fresh start after the other's checkpoint) the directory already holds a run
        assert.match(e.stderr.trim(), /^prefix-tune train: .* (is in use by train \(pid \d+ on .+\)|already holds a training run .*pass --resume)/, ctx);
        assert.equal(e.stderr.trim().split('\n').length, 1, ctx);
        refusals.push(ctx);
      }
      if (e.code === 143 || e.signal !== null) killed++;
      if (e.code === 143) assert.match(e.stderr, /interrupted by SIGTERM: checkpoint saved/, ctx);
      assert.doesNotMatch(e.stderr, /\n\s+at /, `no stack trace: ${ctx}`);
    }));
    await sleep(Math.floor(rand() * 200));
  }
  assert.ok(killed > 0, `some trainer was killed before it ended (seed ${seed})`);
  const started = existsSync(join(out, 'checkpoint', 'checkpoint.json'));
  if (!existsSync(join(out, 'adapter'))) {
    const r = cli(started ? ['train', '--out', out, '--resume', '-q'] : args(out));
    assert.equal(r.code, 0, r.stderr);
  }
  const lr = (JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { lr: number }).lr;
  const ref = lr === 1e-3 ? referenceB : reference;
  if (lr === 1e-3) {
    const r = cli([...args(referenceB), '--lr', '1e-3']);
    assert.equal(r.code, 0, r.stderr);
  }
  const x = adapterOf(ref), y = adapterOf(out);
  assert.equal(x.length, y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  assert.ok(worst <= 1e-6, `max |resumed - uninterrupted (lr ${lr})| = ${worst} (seed ${seed})`);
  assert.deepEqual(stepLog(out), stepLog(ref), 'train-log.jsonl is the log of one run (timings aside)');
  // a finished run releases its lock; one left by a process killed with SIGKILL names a dead pid (taken over by the next run)
  if (existsSync(join(out, '.lock'))) {
    const owner = JSON.parse(readFileSync(join(out, '.lock'), 'utf8')) as { pid: number };
    assert.ok(pidDead(owner.pid), `the lock left in ${out} belongs to a live process ${owner.pid}`);
  }
});

test('a second trainer on a directory another one holds is refused in one line naming the owner; the first ends as if alone', { skip }, async () => {
  const out = join(work, 'held');
  const a = run(args(out));
  for (let i = 0; i < 3000 && !existsSync(join(out, '.lock')); i++) await sleep(5);
  a.p.kill('SIGSTOP'); // alive and holding the lock, whatever the machine's speed
  try {
    for (const b of [args(out), ['train', '--out', out, '--resume', '-q']]) {
      const r = cli(b);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim(), `prefix-tune train: ${out} is in use by train (pid ${a.p.pid} on ${hostname()}, since ${(JSON.parse(readFileSync(join(out, '.lock'), 'utf8')) as { started: string }).started}); wait for it to end, or choose another --out (remove ${out}/.lock if that process is gone)`);
    }
  } finally {
    a.p.kill('SIGCONT');
  }
  const e = await a.ended;
  assert.equal(e.code, 0, e.stderr);
  assert.deepEqual(stepLog(out), stepLog(reference), 'the log of the first run only');
  assert.ok(!existsSync(join(out, '.lock')), 'released at the end');
});

test('a diverging run (--lr 1e30) stops with one line and exit 1; an adapter holding NaN is refused by generate and eval', { skip }, () => {
  const out = join(work, 'diverged');
  // the random-weight fixture saturates instead of diverging; the embedded model goes NaN at step 2
  const embedded = join(repoRoot, 'models', 'tiny-gpt2-en');
  const r = cli(['train', '--model', embedded, '--task', 'e2e', '--max-examples', '20', '--max-dev-examples', '5', '--batch-size', '5', '--epochs', '1',
    '--lr', '1e30', '--checkpoint-every', '1', '-q', '--out', out]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^prefix-tune train: non-finite loss \(NaN\) at step 2 \(epoch 1, batch 2\): training stopped; the last good checkpoint \(step 1\) in .* is kept/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(existsSync(join(out, 'checkpoint', 'checkpoint.json')), 'the last good checkpoint is kept');
  assert.ok(!existsSync(join(out, 'adapter')), 'no adapter from a diverged run');
  // a NaN adapter written by some other means
  const bad = join(work, 'nan-adapter');
  cpSync(join(reference, 'adapter'), bad, { recursive: true });
  const f = join(bad, 'adapter_model.safetensors');
  const b = readFileSync(f);
  const n = Number(b.readBigUInt64LE(0));
  for (let at = 8 + n; at + 4 <= b.length; at += 4) b.writeFloatLE(NaN, at);
  writeFileSync(f, b);
  const g = cli(['generate', '--model', model, '--adapter', bad, '--max-new-tokens', '3', '--prompt', 'name : Aromi']);
  assert.equal(g.code, 2, g.stderr);
  assert.match(g.stderr, /^prefix-tune generate: adapter .*nan-adapter: adapter_model\.safetensors: \S+ holds \d+ non-finite values \(NaN\); the run that wrote it diverged/);
  assert.equal(g.stdout, '');
  const e = cli(['eval', '--model', model, '--adapter', bad, '--task', 'e2e', '--max-examples', '2', '--out', join(work, 'nan-eval')]);
  assert.equal(e.code, 2, e.stderr);
  assert.match(e.stderr, /non-finite values/);
});

test('generate prints no control characters a model emitted', () => {
  assert.equal(printable('a\u0000b\u001b[2Jc\u0007\td\ne\u009b'), 'a\uFFFDb\uFFFD[2Jc\uFFFD\td\ne\uFFFD');
  assert.equal(printable('name : Aromi | food : Chinese'), 'name : Aromi | food : Chinese');
});

test('an --out that cannot hold a run is refused before any work: one line, exit 2 (train, eval, convert, quickstart, pretrain, experiment)', { skip }, () => {
  const file = join(work, 'a-file');
  writeFileSync(file, 'x');
  const cases: [string[], RegExp][] = [
    [[...args(file)], /--out .*a-file exists and is not a directory/],
    [[...args(join(file, 'sub'))], /--out .*a-file\/sub lies under .*a-file, which is a file/],
    [[...args('/proc/x')], /--out \/proc\/x is on the proc pseudo-filesystem/],
    [['eval', '--model', model, '--adapter', join(reference, 'adapter'), '--task', 'e2e', '--out', '/sys/x'], /--out \/sys\/x is on the sysfs pseudo-filesystem/],
    [['convert', '--from', 'llama2c', file, file, '--out', join(file, 'm')], /lies under .*, which is a file/],
    [['quickstart', '--offline', '--out', '/proc/x'], /--out \/proc\/x is on the proc pseudo-filesystem/],
    [['pretrain', '--preset', 'micro', '--out', file], /exists and is not a directory/],
  ];
  for (const [a, re] of cases) {
    const r = cli(a);
    assert.equal(r.code, 2, `${a.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, a.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
});

for (const code of ['ENOSPC', 'EACCES']) {
  test(`${code} while writing a checkpoint: one line naming the file, the previous checkpoint intact; --resume then ends as an uninterrupted run`, { skip }, () => {
    const out = join(work, `fault-${code}`);
    // the checkpoint has several files: fail the writes after the first two checkpoints' worth
    const inject = { NODE_OPTIONS: `--import ${join(repoRoot, 'packages', 'cli', 'test', 'fault-fs.mjs')}`, FAULT_FS_MATCH: `${out}/checkpoint/`, FAULT_FS_AFTER: '9', FAULT_FS_CODE: code };
    const r = cli(args(out), inject);
    assert.equal(r.code, 1, r.stderr);
    const line = r.stderr.trim();
    assert.equal(line.split('\n').length, 1, r.stderr);
    assert.match(line, new RegExp(`^prefix-tune train: cannot write ${out}/checkpoint/\\S+: ${code === 'ENOSPC' ? 'no space left on the device' : 'permission denied'} \\(${code}\\); the previous checkpoint \\(step \\d+\\) in ${out}/checkpoint is intact$`));
    const ok = cli(['train', '--out', out, '--resume', '-q']);
    assert.equal(ok.code, 0, ok.stderr);
    const x = adapterOf(reference), y = adapterOf(out);
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    assert.ok(worst <= 1e-6, `max |resumed - uninterrupted| = ${worst}`);
  });
}

for (const [sig, code] of [['SIGTERM', 143], ['SIGHUP', 129]] as const) {
  test(`${sig} saves a checkpoint and exits with ${code}, like Ctrl-C; --resume keeps --checkpoint-every and ends as an uninterrupted run`, { skip }, async () => {
    const out = join(work, `signal-${sig}`);
    const { p, ended } = run(args(out));
    for (let i = 0; i < 2000 && !existsSync(join(out, 'checkpoint', 'checkpoint.json')); i++) await sleep(10);
    p.kill(sig);
    const e = await ended;
    assert.equal(e.code, code, e.stderr);
    assert.match(e.stderr, new RegExp(`interrupted by ${sig}: checkpoint saved in ${out}/checkpoint \\(step \\d+\\)`));
    const r = cli(['train', '--out', out, '--resume']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /resume: --checkpoint-every/, 'nothing changed, nothing listed');
    assert.equal((JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')) as { checkpointEvery: number }).checkpointEvery, 1, 'the saved interval stands');
    const x = adapterOf(reference), y = adapterOf(out);
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    assert.ok(worst <= 1e-6, `max |resumed - uninterrupted| = ${worst}`);
  });
}

test('--on-nonfinite skip with gradient accumulation is a usage error (a skipped batch must be one update)', { skip }, () => {
  const r = cli([...args(join(work, 'skip-accum')), '--on-nonfinite', 'skip']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr.trim(), /^prefix-tune train: --on-nonfinite skip needs --grad-accum 1 and --steps-per-run 1 \(got 2 and 1\)/);
});
