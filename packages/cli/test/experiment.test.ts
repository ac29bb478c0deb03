/**
 * `prefix-tune experiment`: plan expansion and aggregation laws, the named plans, the report,
 * and a plan killed with SIGKILL in the middle of its runs, then resumed: the same results as an
 * uninterrupted plan, with no finished run repeated.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { aggregate, decodePlan, expandPlan, meanSd, runPlan, type Plan, type RunResult } from '../src/run/experiment.ts';
import { writeReport } from '../src/run/experiment-report.ts';
import { lineChartSvg } from '../src/run/chart.ts';
import { PLANS_DIR } from '../src/commands/experiment.ts';
import { cli, cliSpawn, e2eDir, rmrf, tempDir, tinyModelDir, xmlTags } from './train-fixture.ts';

test('a plan expands to variants × grid points × seeds runs with distinct ids; later options win', () => {
  const axis = fc.record({ name: fc.constantFrom('examples', 'prefix length', 'lr'), values: fc.uniqueArray(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 4 }) });
  fc.assert(fc.property(
    fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/), { minLength: 1, maxLength: 4 }),
    fc.uniqueArray(axis, { maxLength: 2, selector: (a) => a.name }),
    fc.uniqueArray(fc.integer({ min: 0, max: 99 }), { minLength: 1, maxLength: 3 }),
    (labels, grid, seeds) => {
      const plan = { name: 'p', task: 'e2e', train: { epochs: 1, lr: 1 }, variants: labels.map((label) => ({ label, train: { lr: 2 } })),
        grid: grid.map((a) => ({ ...a, option: a.name.replace(/ /g, '-') })), seeds };
      const d = decodePlan(plan);
      assert.ok(E.isRight(d), E.isLeft(d) ? d.left : '');
      const runs = expandPlan(d.right);
      assert.equal(runs.length, labels.length * grid.reduce((n, a) => n * a.values.length, 1) * seeds.length);
      assert.equal(new Set(runs.map((r) => r.id)).size, runs.length);
      for (const r of runs) {
        assert.equal(r.train['lr'], grid.some((a) => a.name === 'lr') ? r.point['lr'] : 2);
        assert.equal(r.train['epochs'], 1);
        assert.equal(r.train['seed'], r.seed);
        for (const a of grid) assert.equal(r.train[a.name.replace(/ /g, '-')], r.point[a.name]);
      }
    }));
});

test('bad plans are refused with the reason', () => {
  const ok = { name: 'p', task: 'e2e', variants: [{ label: 'a' }] };
  const why = (p: unknown) => { const d = decodePlan(p); return E.isLeft(d) ? d.left : 'accepted'; };
  assert.match(why({ ...ok, variants: [] }), /no variants/);
  assert.match(why({ ...ok, variants: [{ label: 'a' }, { label: 'a' }] }), /share an id/);
  assert.match(why({ ...ok, grid: [{ name: 'n', values: [1] }] }), /no "option"/);
  assert.match(why({ ...ok, grid: [{ name: 'n', values: [], option: 'x' }] }), /no values/);
  assert.match(why({ ...ok, seeds: [] }), /seeds/);
  assert.match(why({ task: 'e2e', variants: [] }), /name/);
  assert.equal(why({ ...ok, grid: [{ name: 'data', values: [{ x: 50, train: { 'max-examples': 50, epochs: 20 } }] }] }), 'accepted');
});

test('aggregation: mean and sample standard deviation over seeds, one row per variant and point', () => {
  assert.deepEqual(meanSd([2, 4, 6]), { mean: 4, sd: 2, n: 3 });
  assert.deepEqual(meanSd([5]), { mean: 5, sd: 0, n: 1 });
  const plan = E.getOrElseW(() => { throw new Error('plan'); })(decodePlan({ name: 'p', task: 'e2e', variants: [{ label: 'a' }, { label: 'b' }], grid: [{ name: 'n', option: 'max-examples', values: [1, 2] }], seeds: [1, 2] })) as Plan;
  const results: RunResult[] = expandPlan(plan).map((spec, i) => ({ spec, metrics: { bleu: i }, losses: [[1, 10 - i]], trainSeconds: 1 }));
  const rows = aggregate(results);
  assert.equal(rows.length, 4);
  assert.deepEqual(rows.map((r) => [r.variant, r.point['n'], r.seeds, r.metrics['bleu']!.mean]), [['a', 1, 2, 0.5], ['a', 2, 2, 2.5], ['b', 1, 2, 4.5], ['b', 2, 2, 6.5]]);
  assert.ok(Math.abs(rows[0]!.metrics['bleu']!.sd - Math.SQRT1_2) < 1e-12);
});

test('charts are well-formed SVG for any series, including empty and degenerate ones', () => {
  const pt = fc.record({ x: fc.double({ min: -1e3, max: 1e3, noNaN: true }), y: fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constant(Number.NaN), fc.constant(1e6 + 1e-7)), sd: fc.double({ min: 0, max: 10, noNaN: true }) });
  fc.assert(fc.property(fc.array(fc.record({ label: fc.string({ maxLength: 12 }), points: fc.array(pt, { maxLength: 6 }) }), { maxLength: 5 }), fc.boolean(), (series, logX) => {
    const svg = lineChartSvg({ title: 'T <&>', xLabel: 'x', yLabel: 'y', series, logX });
    assert.equal(xmlTags(svg)[0], 'svg');
    assert.ok(!/NaN|Infinity/.test(svg), svg);
  }));
});

test('every named plan decodes and lists its runs', () => {
  const names = readdirSync(PLANS_DIR).filter((f) => f.endsWith('.json'));
  assert.ok(names.length >= 3, `named plans: ${names.join(', ')}`);
  for (const f of names) {
    const d = decodePlan(JSON.parse(readFileSync(join(PLANS_DIR, f), 'utf8')));
    assert.ok(E.isRight(d), `${f}: ${E.isLeft(d) ? d.left : ''}`);
  }
  const r = cli(['experiment', '--plan', 'e2e-low-data', '--out', join(tempDir('pt-exp-dry-'), 'x'), '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.split('\n').filter((l) => l.startsWith('todo  ')).length >= 24, r.stdout);
  const bad = cli(['experiment', '--plan', 'no-such-plan']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no plan 'no-such-plan'.*named plans: .*e2e-main/);
});

test('named evaluations: each adapter is evaluated once per name with its options, an evaluation already written is not repeated, metrics are NAME/metric and results.md has a column per evaluation', async () => {
  const plan = decodePlan({
    name: 'evals', task: 'webnlg', eval: { split: 'test', 'max-examples': 5 },
    variants: [{ label: 'a' }], seeds: [1, 2],
    evals: { seen: { 'webnlg-categories': 'seen' }, unseen: { 'webnlg-categories': 'unseen', 'max-examples': 3 } },
  });
  assert.ok(E.isRight(plan), E.isLeft(plan) ? plan.left : '');
  const out = tempDir('pt-cli-exp-evals-');
  try {
    const evals: Record<string, unknown>[] = [];
    const runner = {
      train: async (o: Record<string, unknown>) => {
        mkdirSync(join(String(o['out']), 'adapter'), { recursive: true });
        for (const f of ['adapter_config.json', 'adapter_model.safetensors']) writeFileSync(join(String(o['out']), 'adapter', f), '');
        return 0;
      },
      eval: async (o: Record<string, unknown>) => {
        evals.push(o);
        mkdirSync(String(o['out']), { recursive: true });
        // a score that tells the evaluations and the seeds apart
        const bleu = (o['webnlg-categories'] === 'seen' ? 0.4 : 0.1) + (String(o['out']).includes('__s2') ? 0.02 : 0);
        writeFileSync(join(String(o['out']), 'metrics.json'), JSON.stringify({ metrics: { bleu, meteor: 0.3 } }));
        return 0;
      },
      say: () => {},
    };
    assert.equal(await runPlan(plan.right, out, 'M', runner), 0);
    assert.deepEqual(evals.map((o) => [String(o['out']).split('/').slice(-2).join('/'), o['webnlg-categories'], o['max-examples'], o['split']]), [
      ['a__s1/eval-seen', 'seen', 5, 'test'], ['a__s1/eval-unseen', 'unseen', 3, 'test'],
      ['a__s2/eval-seen', 'seen', 5, 'test'], ['a__s2/eval-unseen', 'unseen', 3, 'test'],
    ]);
    // one evaluation lost: only it runs again
    rmrf(join(out, 'runs', 'a__s2', 'eval-unseen'));
    evals.length = 0;
    assert.equal(await runPlan(plan.right, out, 'M', runner), 0);
    assert.deepEqual(evals.map((o) => String(o['out']).split('/').slice(-2).join('/')), ['a__s2/eval-unseen']);
    await writeReport(plan.right, out, out, 'cmd');
    const md = readFileSync(join(out, 'results.md'), 'utf8');
    assert.match(md, /\| variant \| seeds \| BLEU \(seen\) \| BLEU \(unseen\) \| METEOR \(seen\) \| METEOR \(unseen\) \|/);
    assert.match(md, /\| a \| 2 \| 41\.0 ± 1\.4 \| 11\.0 ± 1\.4 \| 30\.0 ± 0\.0 \| 30\.0 ± 0\.0 \|/);
    const runs = (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { runs: { metrics: Record<string, number> }[] }).runs;
    assert.deepEqual(Object.keys(runs[0]!.metrics).sort(), ['seen/bleu', 'seen/meteor', 'unseen/bleu', 'unseen/meteor']);
  } finally {
    rmrf(out);
  }
  // names that cannot be a directory and a prefix are refused
  const bad = decodePlan({ name: 'x', task: 'e2e', variants: [{ label: 'a' }], evals: { '../up': {} } });
  assert.ok(E.isLeft(bad) && /evaluation name "..\/up"/.test(bad.left));
});

test('a plan\'s options are checked against train and eval before anything runs (unknown or mistyped: one located line, exit 2)', () => {
  const dir = tempDir('pt-cli-exp-opts-');
  try {
    const plan = (evalOpts: object) => {
      const f = join(dir, 'plan.json');
      writeFileSync(f, JSON.stringify({ name: 'o', task: 'e2e', variants: [{ label: 'a', train: { epochs: 1 } }], eval: evalOpts }));
      return cli(['experiment', '--plan', f, '--out', join(dir, 'out'), '--dry-run']);
    };
    const bad = plan({ 'max-exampels': 3 });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /plan\.json: run a__s42: eval options: unknown option '--max-exampels'/);
    assert.equal(bad.stderr.trimEnd().split('\n').length, 1, bad.stderr);
    const typed = plan({ 'max-examples': 'ten' });
    assert.equal(typed.code, 2);
    assert.match(typed.stderr, /option '--max-examples' expects a number, got 'ten'/);
    // a list option is given as the command line gives it
    const ok = plan({ metrics: 'bleu,nist', greedy: true });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /todo {2}a__s42/);
  } finally {
    rmrf(dir);
  }
});

// ---- a real plan on the tiny fixture model, killed and resumed ----
const skip = !existsSync(join(e2eDir, 'trainset.csv')) && `${e2eDir} not found`;
let model = '';
let work = '';
let planFile = '';
let reference = '';
const planArgs = (out: string) => ['experiment', '--plan', planFile, '--out', out, '--model', model];

before(() => {
  if (skip) return;
  model = tinyModelDir();
  work = tempDir('pt-cli-exp-');
  planFile = join(work, 'plan.json');
  writeFileSync(planFile, JSON.stringify({
    name: 'tiny', task: 'e2e',
    train: { 'max-dev-examples': 0, epochs: 2, 'batch-size': 5, lr: 3e-3, 'checkpoint-every': 1, backend: 'onnx', 'mlp-hidden': 8 },
    eval: { split: 'dev', 'max-examples': 4, greedy: true, 'max-new-tokens': 6, backend: 'onnx' },
    variants: [{ label: 'prefix', train: { variant: 'prefix', 'prefix-length': 2 } }, { label: 'EMB-2', train: { variant: 'embedding', 'prefix-length': 2 } }],
    grid: [{ name: 'examples', option: 'max-examples', values: [20, 30] }],
    seeds: [1, 2],
  }));
  reference = join(work, 'reference');
  const r = cli(planArgs(reference));
  assert.equal(r.code, 0, r.stdout + r.stderr);
});
after(() => { rmrf(model); rmrf(work); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const exited = (p: ChildProcess) => new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => p.on('exit', (code, signal) => r({ code, signal })));
const runsOf = (out: string) => (JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { runs: { id: string; metrics: unknown }[] }).runs
  .map(({ id, metrics }) => ({ id, metrics }));
const hypotheses = (out: string, id: string) => readFileSync(join(out, 'runs', id, 'eval', 'hypotheses.txt'), 'utf8');
const adapter = (out: string, id: string) => readFileSync(join(out, 'runs', id, 'adapter', 'adapter_model.safetensors'));

test('the report: results.md with every run, results.json, SVG plots', { skip }, () => {
  const md = readFileSync(join(reference, 'results.md'), 'utf8');
  assert.match(md, /8 of 8 runs finished/);
  assert.match(md, /\| prefix \| 20 \| 2 \|/);
  assert.match(md, /\| EMB-2 \| 30 \| 2 \|/);
  assert.match(md, /SER %/);
  for (const f of ['bleu-vs-examples.svg', 'slot-error-vs-examples.svg', 'loss-curves.svg']) assert.equal(xmlTags(readFileSync(join(reference, f), 'utf8'))[0], 'svg', f);
  assert.equal(runsOf(reference).length, 8);
  // a second invocation repeats nothing
  const again = cli(planArgs(reference));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /8 runs, 8 already finished, 0 to run/);
});

test('SIGKILL in the middle of a plan, twice, then the same command: the results of an uninterrupted plan', { skip }, async () => {
  const out = join(work, 'killed');
  const ids = runsOf(reference).map((r) => r.id);
  for (const round of [0, 1]) {
    const p = cliSpawn(planArgs(out));
    let done = false;
    const ended = exited(p).then((e) => { done = true; return e; });
    // kill while a run's training is under way: after a checkpoint of run `round * 3 + 1`, a random moment later
    const target = join(out, 'runs', ids[round * 3 + 1]!, 'checkpoint', 'checkpoint.json');
    for (let i = 0; i < 4000 && !done && !existsSync(target); i++) await sleep(20);
    await sleep(Math.floor(Math.random() * 300));
    p.kill('SIGKILL');
    const e = await ended;
    assert.equal(e.signal, 'SIGKILL', `round ${round}: the plan ended before the kill (${JSON.stringify(e)})`);
  }
  const finishedBefore = ids.filter((id) => existsSync(join(out, 'runs', id, 'eval', 'metrics.json')));
  const mtimes = new Map(finishedBefore.map((id) => [id, statSync(join(out, 'runs', id, 'eval', 'metrics.json')).mtimeMs]));
  const r = cli(planArgs(out));
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`${finishedBefore.length} already finished`));
  for (const [id, m] of mtimes) assert.equal(statSync(join(out, 'runs', id, 'eval', 'metrics.json')).mtimeMs, m, `${id} was run again`);
  assert.deepEqual(runsOf(out), runsOf(reference));
  for (const id of ids) {
    assert.equal(hypotheses(out, id), hypotheses(reference, id), id);
    assert.ok(adapter(out, id).equals(adapter(reference, id)), `${id}: adapter differs from the uninterrupted plan's`);
  }
});
