/**
 * `prefix-tune generate`: the real pretrained stories260K (converted from llama2.c) decodes the
 * text its README quotes from BOS; beam search, sampling and input files; a prefix trained on
 * that Llama model steers it; the flags over the model's generation_config.json; `--device` and
 * PREFIX_TUNING_ONNX_EP; usage errors exit 2 with one line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cudaAvailable } from '@prefix-tuning/backend-onnx';
import { cli, rmrf, sharedDir, tempDir, tinyModelDir } from './train-fixture.ts';

const stories = join(sharedDir, 'models', 'stories260K');
const skip = !existsSync(join(stories, 'stories260K.bin')) && `${stories} not found`;
let work = '';
let model = '';
let quote = '';

before(() => {
  work = tempDir('pt-cli-generate-');
  if (skip) return;
  model = join(work, 'stories');
  const r = cli(['convert', '--from', 'llama2c', join(stories, 'stories260K.bin'), join(stories, 'tok512.bin'), '--out', model]);
  assert.equal(r.code, 0, r.stderr);
  const readme = readFileSync(join(sharedDir, 'README.md'), 'utf8');
  quote = /Greedy decoding from BOS at temperature 0 gives: `([^`]+)`/.exec(readme)?.[1] ?? '';
  assert.ok(quote.length > 50, 'the README quotes the greedy text');
});
after(() => rmrf(work));

test('generate --prompt "" --greedy prints the text the model\'s README quotes', { skip }, () => {
  // the quote is 61 tokens after BOS (its last token is the final ".")
  const r = cli(['generate', '--model', model, '--prompt', '', '--max-new-tokens', '61', '--greedy']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${quote}\n`);
  // 60 tokens: a proper prefix of the quote (max_new_tokens counts generated tokens, BOS excluded)
  const j = cli(['generate', '--model', model, '--prompt', '', '--max-new-tokens', '60', '--json']);
  const o = JSON.parse(j.stdout) as { prompt: string; prompt_ids: number[]; ids: number[]; text: string; score: number };
  assert.deepEqual(o.prompt_ids, [1]); // BOS, added by the Llama tokenizer
  assert.equal(o.ids.length, 60);
  assert.ok(o.text.length < quote.length && quote.startsWith(o.text), JSON.stringify(o.text));
  assert.ok(o.score < 0);
});

test('beam search, seeded sampling and prompts from a file', { skip }, () => {
  const file = join(work, 'prompts.jsonl');
  writeFileSync(file, `${JSON.stringify({ source: 'Once upon a time' })}\n\n${JSON.stringify({ source: 'The cat' })}\n`);
  const beam = cli(['generate', '--model', model, '--input', file, '--beams', '3', '--max-new-tokens', '12', '--json']);
  assert.equal(beam.code, 0, beam.stderr);
  const outs = beam.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { prompt: string; ids: number[]; text: string; score: number });
  assert.deepEqual(outs.map((o) => o.prompt), ['Once upon a time', 'The cat']);
  for (const o of outs) {
    assert.ok(o.ids.length >= 1 && o.ids.length <= 12);
    assert.ok(Number.isFinite(o.score) && o.score <= 0);
  }
  const s = (seed: string) => cli(['generate', '--model', model, '--prompt', 'Once', '--sample', '--seed', seed, '--temperature', '0.9', '--top-k', '20', '--max-new-tokens', '20']);
  const a = s('5'), b = s('5');
  assert.equal(a.code, 0, a.stderr);
  assert.equal(a.stdout, b.stdout);
});

test('a prefix trained on the Llama model (JSONL pairs) steers its generation', { skip }, () => {
  const data = join(work, 'pairs.jsonl');
  const pairs = Array.from({ length: 24 }, (_, i) => ({ source: `Tell a story about ${['a dog', 'a cat', 'a bird'][i % 3]}.`, target: 'The end. The end. The end.' }));
  writeFileSync(data, pairs.map((p) => JSON.stringify(p)).join('\n'));
  const out = join(work, 'llama-run');
  const t = cli(['train', '--model', model, '--jsonl', data, '--epochs', '3', '--batch-size', '8', '--lr', '3e-2', '--prefix-length', '4', '--reparam', 'direct', '-q', '--out', out]);
  assert.equal(t.code, 0, t.stderr);
  const g = (extra: string[]) => cli(['generate', '--model', model, '--prompt', 'Tell a story about a dog.', '--max-new-tokens', '10', ...extra]);
  const withA = g(['--adapter', join(out, 'adapter')]), without = g([]);
  assert.equal(withA.code, 0, withA.stderr);
  assert.notEqual(withA.stdout, without.stdout);
  // GQA: the PEFT adapter uses the key/value heads (4 of 8) as PEFT does
  const c = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([c['num_attention_heads'], c['token_dim'], c['num_layers'], c['num_virtual_tokens']], [4, 32, 5, 4]);
});

test('generate: conflicting or missing inputs exit 2 with one line', () => {
  const tiny = tinyModelDir();
  try {
    const cases: [string[], RegExp][] = [
      [['--prompt', 'x', '--greedy', '--beams', '2'], /choose one of --greedy, --beams N, --sample/],
      [['--prompt', 'x', '--input', 'f'], /exactly one of --prompt TEXT and --input FILE/],
      [[], /exactly one of --prompt TEXT and --input FILE/],
      [['--prompt', 'x', '--top-k', '3'], /--top-k applies to --sample/],
      [['--prompt', 'x', '--adapter', join(tiny, 'no-adapter')], /no such adapter directory/],
      [['--prompt', 'x', '--adapter', tiny], /adapter_config\.json: missing/],
      [['--prompt', 'x', '--device', 'gpu'], /unknown device 'gpu' \(one of cpu, cuda, auto\)/],
      [['--prompt', 'x', '--beams', '2', '--tokens-per-run', '4'], /--tokens-per-run applies to plain greedy decoding/],
      [['--prompt', 'x', '--greedy', '--no-repeat-ngram', '2', '--tokens-per-run', '4'], /--tokens-per-run applies to plain greedy decoding/],
      [['--prompt', 'x', '--greedy', '--tokens-per-run', '0'], /--tokens-per-run/],
      [['--prompt', 'x', '--device', 'cpu', '--backend', 'reference'], /--device applies to the onnx backend/],
      ...(cudaAvailable() ? [] : [[['--prompt', 'x', '--device', 'cuda'], /--device cuda: onnxruntime-node's CUDA provider is not installed .*scripts\/install-ort-cuda\.sh.*--device auto/] as [string[], RegExp]]),
    ];
    for (const [extra, re] of cases) {
      const r = cli(['generate', '--model', tiny, ...extra]);
      assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
    }
  } finally {
    rmrf(tiny);
  }
});

test("generate and eval parse the flags over the model's generation_config.json: --temperature with its do_sample, --length-penalty with its num_beams", () => {
  const tiny = tinyModelDir();
  try {
    const gc = join(tiny, 'generation_config.json');
    const base = JSON.parse(readFileSync(gc, 'utf8')) as Record<string, unknown>;
    const run = (extra: string[]) => {
      const r = cli(['generate', '--model', tiny, '--prompt', 'name : Aromi | Type : pub', '--max-new-tokens', '6', '--json', ...extra]);
      assert.equal(r.code, 0, `${extra.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    // do_sample: the model samples, so --temperature applies: the same as --sample given explicitly
    writeFileSync(gc, JSON.stringify({ ...base, do_sample: true }));
    assert.equal(run(['--temperature', '0.5', '--seed', '3']), run(['--sample', '--temperature', '0.5', '--seed', '3']));
    // num_beams 4: the model searches with beams, so --length-penalty applies: the same as --beams 4
    writeFileSync(gc, JSON.stringify({ ...base, num_beams: 4 }));
    const beams = run(['--length-penalty', '2']);
    assert.equal(beams, run(['--beams', '4', '--length-penalty', '2']));
    assert.notEqual(beams, run(['--greedy']));
    // eval accepts it too: its first complaint is the missing adapter, read after the decoding options
    const e = cli(['eval', '--model', tiny, '--adapter', join(tiny, 'no-adapter'), '--task', 'e2e', '--out', join(tiny, 'eval'), '--length-penalty', '2']);
    assert.equal(e.code, 2, e.stderr);
    assert.match(e.stderr, /no such adapter directory/);
    // and a flag the model's mode does not take is still refused
    const g = cli(['generate', '--model', tiny, '--prompt', 'x', '--top-k', '3']);
    assert.equal(g.code, 2, g.stderr);
    assert.match(g.stderr, /--top-k applies to --sample/);
    // a bad value in the file is blamed on the file and its key, in one line
    for (const [text, re] of [[JSON.stringify({ ...base, no_repeat_ngram_size: 2.5 }), /generation_config\.json: no_repeat_ngram_size must be an integer >= 0, got 2\.5$/], ['{ nope', /generation_config\.json: invalid JSON \(/]] as const) {
      writeFileSync(gc, text);
      const r = cli(['generate', '--model', tiny, '--prompt', 'x', '--greedy']);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.match(r.stderr.trimEnd(), re);
      assert.doesNotMatch(r.stderr, /--no-repeat-ngram/);
    }
  } finally {
    rmrf(tiny);
  }
});

test('generate --device cpu and auto, and PREFIX_TUNING_ONNX_EP, run where they say: the same text as the default', () => {
  const tiny = tinyModelDir();
  try {
    const run = (extra: string[], env: Record<string, string> = {}) => {
      const r = cli(['generate', '--model', tiny, '--prompt', 'name : Aromi | Type : pub', '--max-new-tokens', '8', '--greedy', ...extra], env);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const base = run([]);
    assert.ok(base.trim().length > 0);
    assert.equal(run(['--device', 'cpu']), base);
    assert.equal(run(['--device', 'auto']), base);
    assert.equal(run([], { PREFIX_TUNING_ONNX_EP: 'cpu' }), base);
    const bad = cli(['generate', '--model', tiny, '--prompt', 'x', '--greedy'], { PREFIX_TUNING_ONNX_EP: 'tpu' });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /PREFIX_TUNING_ONNX_EP='tpu': expected cpu, cuda or auto/);
    if (!cudaAvailable()) {
      // the variable asking for CUDA without its provider: the fallback named is the variable's, in one line
      const cuda = cli(['generate', '--model', tiny, '--prompt', 'x', '--greedy'], { PREFIX_TUNING_ONNX_EP: 'cuda' });
      assert.equal(cuda.code, 2, cuda.stderr);
      assert.equal(cuda.stderr.trimEnd().split('\n').length, 1, cuda.stderr);
      assert.match(cuda.stderr, /PREFIX_TUNING_ONNX_EP=cuda: onnxruntime-node's CUDA provider is not installed .*PREFIX_TUNING_ONNX_EP=auto to fall back to the CPU/);
      assert.doesNotMatch(cuda.stderr, /executionProviders/);
    }
  } finally {
    rmrf(tiny);
  }
});

test('generate --tokens-per-run 4: the same tokens as one run per token (greedy, prompts of different lengths in one batch)', () => {
  const tiny = tinyModelDir();
  try {
    const file = join(tiny, 'prompts.txt');
    writeFileSync(file, 'name : Aromi | Type : pub\nname : The Eagle\nfood : French | price : moderate | near : Burger King\n');
    const run = (extra: string[]) => {
      const r = cli(['generate', '--model', tiny, '--input', file, '--max-new-tokens', '11', '--greedy', '--json', ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { ids: number[]; score: number });
    };
    const [one, four] = [run([]), run(['--tokens-per-run', '4'])];
    assert.equal(four.length, 3);
    assert.deepEqual(four.map((o) => o.ids), one.map((o) => o.ids));
    four.forEach((o, i) => assert.ok(Math.abs(o.score - one[i]!.score) < 1e-4, `${o.score} vs ${one[i]!.score}`));
  } finally {
    rmrf(tiny);
  }
});
