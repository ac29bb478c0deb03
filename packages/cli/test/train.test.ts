/**
 * `prefix-tune train` end to end on the tiny random GPT-2 with real E2E pairs (onnx backend):
 * the files it writes and what they must contain, the adapter's relation to the trained MLP,
 * the effect of the adapter on generation, and the refusals of --resume.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cli, e2eDir, readSafetensors, rmrf, tempDir, tinyModelDir, xmlTags } from './train-fixture.ts';

const skip = !existsSync(join(e2eDir, 'trainset.csv')) && `${e2eDir} not found`;
let model = '';
let work = '';
let out = '';
const LR = 1e-2;
const args = () => ['train', '--model', model, '--task', 'e2e', '--max-examples', '200', '--max-dev-examples', '20', '--epochs', '2',
  '--batch-size', '20', '--lr', String(LR), '--backend', 'onnx', '--out', out];
let first: ReturnType<typeof cli>;

before(() => {
  if (skip) return;
  model = tinyModelDir();
  work = tempDir('pt-cli-train-');
  out = join(work, 'run');
  first = cli(args());
});
after(() => { rmrf(model); rmrf(work); });

const cfg = () => JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { n_layer: number; n_embd: number; n_head: number };

test('train writes a PEFT adapter, a checkpoint, a log and a loss curve', { skip }, () => {
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, new RegExp(`adapter: ${out}/adapter \\(PEFT PREFIX_TUNING`));
  const c = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  const m = cfg();
  assert.equal(c['peft_type'], 'PREFIX_TUNING');
  assert.equal(c['task_type'], 'CAUSAL_LM');
  assert.equal(c['num_virtual_tokens'], 10);
  assert.equal(c['num_layers'], m.n_layer);
  assert.equal(c['token_dim'], m.n_embd);
  assert.equal(c['num_attention_heads'], m.n_head);
  assert.equal(c['prefix_projection'], false); // only the computed prefix is stored
  const w = readSafetensors(join(out, 'adapter', 'adapter_model.safetensors'));
  assert.deepEqual([...w.keys()], ['prompt_embeddings']);
  const p = w.get('prompt_embeddings')!;
  assert.equal(p.dtype, 'F32');
  assert.deepEqual(p.shape, [10, 2 * m.n_layer * m.n_embd]);
  assert.ok(p.data.every(Number.isFinite));
  // the checkpoint holds one tensor file besides the manifest, and is complete
  const files = readdirSync(join(out, 'checkpoint')).sort();
  assert.equal(files.length, 2, files.join(', '));
  assert.ok(files[0] === 'checkpoint.json' && /^state-20-.*\.safetensors$/.test(files[1]!), files.join(', '));
  const manifest = JSON.parse(readFileSync(join(out, 'checkpoint', 'checkpoint.json'), 'utf8'));
  assert.deepEqual({ step: manifest.counters.step, epoch: manifest.counters.epoch, done: manifest.counters.done }, { step: 20, epoch: 2, done: true });
});

test('--steps-per-run 4 (4 micro-batches per backend run) trains the same adapter', { skip }, () => {
  assert.equal(first.code, 0, first.stderr);
  const other = join(work, 'run-4');
  const r = cli(args().map((a) => (a === out ? other : a)).concat(['--steps-per-run', '4']));
  assert.equal(r.code, 0, r.stderr);
  const [a, b] = [readSafetensors(join(other, 'adapter', 'adapter_model.safetensors')).get('prompt_embeddings')!, readSafetensors(join(out, 'adapter', 'adapter_model.safetensors')).get('prompt_embeddings')!];
  assert.deepEqual(a.shape, b.shape);
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i]! - b.data[i]!));
  assert.ok(d < 1e-4, `max |diff| ${d}`);
  const bad = cli([...args().map((x) => (x === out ? join(work, 'run-bad') : x)), '--steps-per-run', '0']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--steps-per-run must be a positive integer, got 0/);
  assert.ok(!existsSync(join(work, 'run-bad')), 'refused before anything is written');
});

test('the adapter is the MLP of the best checkpointed parameters, evaluated (MLP dropped)', { skip }, () => {
  const st = readSafetensors(join(out, 'checkpoint', readdirSync(join(out, 'checkpoint')).find((f) => f.endsWith('.safetensors'))!));
  const g = (n: string) => st.get(`best/prefix.${n}`)!;
  const E = g('embedding.weight'), W0 = g('transform.0.weight'), b0 = g('transform.0.bias'), W2 = g('transform.2.weight'), b2 = g('transform.2.bias');
  const [P, d] = E.shape as [number, number];
  const h = W0.shape[0]!, W = W2.shape[0]!;
  const got = readSafetensors(join(out, 'adapter', 'adapter_model.safetensors')).get('prompt_embeddings')!.data;
  let worst = 0;
  for (let p = 0; p < P; p++) {
    const hid = Array.from({ length: h }, (_, j) => {
      let s = b0.data[j]!;
      for (let k = 0; k < d; k++) s += E.data[p * d + k]! * W0.data[j * d + k]!;
      return Math.tanh(s);
    });
    for (let o = 0; o < W; o++) {
      let s = b2.data[o]!;
      for (let j = 0; j < h; j++) s += hid[j]! * W2.data[o * h + j]!;
      worst = Math.max(worst, Math.abs(s - got[p * W + o]!));
    }
  }
  assert.ok(worst < 1e-5, `max |adapter - MLP(E)| = ${worst}`);
});

test('train-log.jsonl: one record per step (linear decay from the peak lr) and one per epoch with the dev loss', { skip }, () => {
  const recs = readFileSync(join(out, 'train-log.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, number | string | boolean | null>);
  const steps = recs.filter((r) => r['type'] === 'step');
  const epochs = recs.filter((r) => r['type'] === 'epoch');
  assert.equal(steps.length, 20);
  assert.equal(epochs.length, 2);
  const total = 20;
  steps.forEach((r, i) => {
    assert.equal(r['step'], i + 1);
    assert.equal(r['epoch'], i < 10 ? 1 : 2);
    for (const k of ['loss', 'grad_norm', 'tokens', 'tokens_per_s', 'elapsed']) assert.ok(typeof r[k] === 'number' && Number.isFinite(r[k] as number) && (r[k] as number) >= 0, `${k} of step ${i + 1}`);
    // transformers' get_linear_schedule_with_warmup without warmup: lr · (total - t) / total at update t = 0, 1, ...
    assert.ok(Math.abs((r['lr'] as number) - (LR * (total - i)) / total) < 1e-12, `lr of step ${i + 1}: ${String(r['lr'])}`);
    if (i > 0) assert.ok((r['elapsed'] as number) >= (steps[i - 1]!['elapsed'] as number));
  });
  epochs.forEach((e, i) => {
    assert.equal(e['epoch'], i + 1);
    assert.equal(e['step'], 10 * (i + 1));
    assert.ok(typeof e['dev_loss'] === 'number' && Number.isFinite(e['dev_loss']));
    const mean = steps.slice(10 * i, 10 * (i + 1)).reduce((s, r) => s + (r['loss'] as number), 0) / 10;
    assert.ok(Math.abs((e['train_loss'] as number) - mean) < 1e-9, 'epoch train loss = mean of its steps');
  });
  // a large learning rate on a random model: the loss must go down
  const mean = (xs: typeof steps) => xs.reduce((s, r) => s + (r['loss'] as number), 0) / xs.length;
  assert.ok(mean(steps.slice(15)) < mean(steps.slice(0, 5)), `loss ${mean(steps.slice(0, 5))} -> ${mean(steps.slice(15))}`);
});

test('loss-curve.svg is well-formed and plots every step and both dev losses', { skip }, () => {
  const svg = readFileSync(join(out, 'loss-curve.svg'), 'utf8');
  const tags = xmlTags(svg);
  assert.equal(tags[0], 'svg');
  const lines = [...svg.matchAll(/<polyline [^>]*points="([^"]*)"/g)].map((m) => m[1]!.trim().split(/\s+/));
  assert.ok(lines.some((pts) => pts.length === 20), `a polyline with the 20 steps (got ${lines.map((l) => l.length).join(', ')})`);
  for (const pts of lines) for (const pt of pts) assert.match(pt, /^-?\d+(\.\d+)?,-?\d+(\.\d+)?$/);
  assert.equal([...svg.matchAll(/<title>epoch \d+: dev loss/g)].length, 2);
});

test('generation with the adapter differs from generation without it', { skip }, () => {
  const prompts = ['name : The Eagle | Type : coffee shop | food : French | area : riverside', 'name : Alimentum | area : city centre | family friendly : no', 'name : Zizzi | Type : pub | near : The Sorrento'];
  const file = join(work, 'prompts.txt');
  writeFileSync(file, `${prompts.join('\n')}\n`);
  const base = ['generate', '--model', model, '--input', file, '--greedy', '--max-new-tokens', '12'];
  const withA = cli([...base, '--adapter', join(out, 'adapter')]);
  const without = cli(base);
  assert.equal(withA.code, 0, withA.stderr);
  assert.equal(without.code, 0, without.stderr);
  const a = withA.stdout.split('\n').slice(0, 3), b = without.stdout.split('\n').slice(0, 3);
  assert.equal(withA.stdout.split('\n').length, 4);
  assert.notDeepEqual(a, b);
});

/** Rewrites a safetensors file's header (the data section is kept as it is). */
const rewriteHeader = (path: string, edit: (h: Record<string, unknown>) => void): void => {
  const b = readFileSync(path);
  const n = Number(b.readBigUInt64LE(0));
  const h = JSON.parse(b.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  edit(h);
  let text = JSON.stringify(h);
  text += ' '.repeat((8 - (text.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  writeFileSync(path, Buffer.concat([len, Buffer.from(text, 'utf8'), b.subarray(8 + n)]));
};
const headerOf = (path: string) => {
  const b = readFileSync(path);
  return JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString('utf8')) as { __metadata__?: Record<string, string> };
};

test('an adapter is refused on other weights of the same shapes (digest), accepted on a copy of its base elsewhere; a PEFT adapter naming another base is a warning', { skip }, () => {
  const meta = headerOf(join(out, 'adapter', 'adapter_model.safetensors')).__metadata__!;
  assert.equal(meta['format'], 'pt');
  assert.match(meta['base_model_digest'] ?? '', /^sha256:[0-9a-f]{64}$/);
  const gen = (m: string, adapter: string) => cli(['generate', '--model', m, '--adapter', adapter, '--prompt', 'name : The Eagle', '--greedy', '--max-new-tokens', '3']);
  // the same weights in another directory: same digest, applied without a word
  const copy = join(work, 'base-copy');
  cpSync(model, copy, { recursive: true });
  const ok = gen(copy, join(out, 'adapter'));
  assert.equal(ok.code, 0, ok.stderr);
  assert.doesNotMatch(ok.stderr, /warning|base/);
  // one weight changed in its last mantissa byte: same shapes, other weights -> refused in one line
  const other = join(work, 'base-other');
  cpSync(model, other, { recursive: true });
  const wpath = join(other, 'model.safetensors');
  const w = readFileSync(wpath);
  w[w.length - 4] = w[w.length - 4]! ^ 1;
  writeFileSync(wpath, w);
  const refused = oneLine(gen(other, join(out, 'adapter')));
  assert.match(refused, /trained on other base weights than .*base-other's \(base_model_digest sha256:/);
  // PEFT's adapters carry no digest: a base named otherwise is a one-line warning, and the adapter is applied
  const peft = join(work, 'peft-adapter');
  cpSync(join(out, 'adapter'), peft, { recursive: true });
  rewriteHeader(join(peft, 'adapter_model.safetensors'), (h) => { h['__metadata__'] = { format: 'pt' }; });
  const c = JSON.parse(readFileSync(join(peft, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(peft, 'adapter_config.json'), JSON.stringify({ ...c, base_model_name_or_path: 'openai-community/gpt2-medium' }));
  const warned = gen(other, peft);
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stderr, /warning: the adapter names "openai-community\/gpt2-medium" as its base model, not .*base-other; it fits this model's shapes and is applied/);
  assert.equal(warned.stderr.trimEnd().split('\n').filter((l) => /warning/.test(l)).length, 1);
  // a PEFT adapter naming its base by another path of the same name: no warning
  writeFileSync(join(peft, 'adapter_config.json'), JSON.stringify({ ...c, base_model_name_or_path: `/elsewhere/${model.split('/').pop()}` }));
  const same = gen(model, peft);
  assert.equal(same.code, 0, same.stderr);
  assert.doesNotMatch(same.stderr, /warning/);
});

const copyRun = (name: string): string => {
  const d = join(work, name);
  cpSync(out, d, { recursive: true });
  return d;
};
const resumeIn = (dir: string, ...extra: string[]) => cli(['train', '--out', dir, '--resume', ...extra]);
const oneLine = (r: ReturnType<typeof cli>) => {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  return r.stderr;
};

test('resume refuses a corrupt checkpoint, saying which file and why', { skip }, () => {
  const d1 = copyRun('torn');
  const f = readdirSync(join(d1, 'checkpoint')).find((x) => x.endsWith('.safetensors'))!;
  truncateSync(join(d1, 'checkpoint', f), statSync(join(d1, 'checkpoint', f)).size - 100);
  assert.match(oneLine(resumeIn(d1)), new RegExp(`${f}: corrupt checkpoint: .*bytes with SHA-256`));
  const d2 = copyRun('garbled');
  writeFileSync(join(d2, 'checkpoint', 'checkpoint.json'), '{"format": 1, "run": ');
  assert.match(oneLine(resumeIn(d2)), /checkpoint\.json: corrupt checkpoint: not valid JSON/);
});

test('resume refuses a checkpoint of another variant or another model, and changed options', { skip }, () => {
  const d1 = copyRun('variant');
  const mpath = join(d1, 'checkpoint', 'checkpoint.json');
  const m = JSON.parse(readFileSync(mpath, 'utf8'));
  m.run.variant.length = 5;
  writeFileSync(mpath, JSON.stringify(m));
  assert.match(oneLine(resumeIn(d1)), /cannot resume: the checkpoint is for another variant \(prefix\.embedding\.weight: \[10,32\] in the checkpoint, \[5,32\]/);
  // the same model path with other weights
  const other = join(work, 'other-model');
  cpSync(model, other, { recursive: true });
  const wpath = join(other, 'model.safetensors');
  const bytes = readFileSync(wpath);
  bytes.writeFloatLE(bytes.readFloatLE(bytes.length - 4) + 0.5, bytes.length - 4);
  writeFileSync(wpath, bytes);
  const d2 = copyRun('model');
  const m2 = JSON.parse(readFileSync(join(d2, 'checkpoint', 'checkpoint.json'), 'utf8'));
  m2.run.model = other;
  writeFileSync(join(d2, 'checkpoint', 'checkpoint.json'), JSON.stringify(m2));
  assert.match(oneLine(resumeIn(d2)), /cannot resume: the checkpoint was written for another model/);
  assert.match(oneLine(resumeIn(copyRun('lr'), '--lr', '0.5')), /^prefix-tune train: --lr gives lr 0\.5, but the checkpoint's run has 0\.01/);
  assert.match(oneLine(cli(args())), /already holds a training run/);
  assert.match(oneLine(resumeIn(join(work, 'nothing'))), /nothing to resume/);
});

test('nothing to learn is refused, not trained on: --max-length that cuts every target away, empty pairs, layers beyond the model (one line, exit 2)', { skip }, () => {
  const one = (r: ReturnType<typeof cli>) => {
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('prefix-tune'));
    assert.equal(lines.length, 1, r.stderr);
    return lines[0]!;
  };
  const base = ['train', '--model', model, '--epochs', '1', '--batch-size', '2', '--backend', 'reference'];
  assert.match(one(cli([...base, '--task', 'e2e', '--max-examples', '4', '--max-dev-examples', '0', '--max-length', '2', '--out', join(work, 'ml2')])),
    /--max-length 2 leaves no target token in 4 of 4 training examples \(the first is example 1\): raise --max-length/);
  const jsonl = join(work, 'empty.jsonl');
  writeFileSync(jsonl, '{"source":"name : Aromi","target":"Aromi is a pub."}\n{"source":" ","target":""}\n{"source":"a","target":"b"}\n');
  assert.match(one(cli([...base, '--jsonl', jsonl, '--out', join(work, 'empty')])),
    /1 of 3 training pairs have an empty source and an empty target \(the first is pair 2\): remove them from the data/);
  const n = cfg().n_layer;
  assert.match(one(cli([...base, '--task', 'e2e', '--max-examples', '4', '--max-dev-examples', '0', '--variant-json', '{"kind":"prefix","length":2,"layers":{"top":99}}', '--out', join(work, 'top99')])),
    new RegExp(`layers \\{top: 99\\} selects more layers than the 'self' attention has \\(${n}\\)`));
});
