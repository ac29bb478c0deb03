/**
 * `prefix-tune quickstart` (`pnpm start`) end to end in a reduced mode (a few dozen examples,
 * one epoch, a handful of test inputs) on the embedded model and the shared E2E data, and its
 * one clear message when the data are missing and downloads are off.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const shared = process.env.PREFIX_TUNING_SHARED ?? join(root, '..', 'shared');
const e2e = join(shared, 'data/e2e/trainset.csv');
const model = join(root, 'models/tiny-gpt2-en/model.safetensors');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, PREFIX_TUNING_CACHE: mkdtempSync(join(tmpdir(), 'pt-cache-')) } });

test('quickstart: embedded model, E2E subset: trains, prints examples and both metric rows, writes adapter, curve and results', { skip: (!existsSync(e2e) || !existsSync(model)) && 'E2E data or the embedded model missing', timeout: 180_000 }, () => {
  const out = join(mkdtempSync(join(tmpdir(), 'pt-qs-')), 'qs');
  const r = cli('quickstart', '--max-train', '40', '--max-test', '4', '--epochs', '1', '--show', '2', '--max-new-tokens', '12', '--out', out, '--offline');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /input: +name : /);
  assert.match(r.stdout, /prefix-tuned: /);
  assert.match(r.stdout, /\| \| BLEU \| NIST \| METEOR \| ROUGE-L \| CIDEr \|/);
  assert.match(r.stdout, /\| untuned \(table text continued\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/);
  // the default decoding, the same for both systems, is named beside the table
  assert.match(r.stdout, /greedy, no repeated 3-grams, input tokens favoured ×1\.5, at least 20 tokens/);
  assert.match(r.stdout, /\| prefix-tuned \(prefix 20\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/);
  for (const f of ['adapter/adapter_config.json', 'adapter/adapter_model.safetensors', 'loss-curve.svg', 'train-log.jsonl', 'results.md', 'metrics.json', 'hypotheses.txt'])
    assert.ok(existsSync(join(out, f)), `${f} missing`);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { inputs: number; untuned: Record<string, number>; prefix_tuned: Record<string, number> };
  assert.equal(m.inputs, 4);
  assert.match(r.stdout, /\| CIDEr \| SER % \(lower is better\) \|/);
  const ser = (m as unknown as { slot_error: Record<string, { rate: number; slots: number }> }).slot_error;
  for (const k of ['untuned', 'prefix_tuned']) assert.ok(ser[k]!.rate >= 0 && ser[k]!.rate <= 1 && ser[k]!.slots >= 4 * 3, `${k}: ${JSON.stringify(ser[k])}`);
  for (const k of ['bleu', 'nist', 'meteor', 'rouge_l', 'cider']) {
    assert.ok(Number.isFinite(m.untuned[k]) && Number.isFinite(m.prefix_tuned[k]), k);
  }
  assert.equal(readFileSync(join(out, 'hypotheses.txt'), 'utf8').trimEnd().split('\n').length, 4);
  // a second run replaces the first one's files instead of refusing to resume; --finetune adds
  // a fully fine-tuned model beside the prefix, on the same examples
  const again = cli('quickstart', '--max-train', '20', '--max-test', '2', '--epochs', '1', '--show', '1', '--max-new-tokens', '4', '--out', out, '--offline', '--finetune');
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /fine-tuning every weight/);
  assert.match(again.stdout, /fine-tuned: {3}/);
  assert.match(again.stdout, /\| fine-tuned \(every weight\) \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|/);
  // not on a terminal, generation progress is plain lines
  assert.match(again.stderr, /^generating \(fine-tuned\) 2\/2$/m);
  const m2 = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { fine_tuned: Record<string, number>; slot_error: Record<string, unknown> };
  assert.ok(Number.isFinite(m2.fine_tuned['bleu']) && m2.slot_error['fine_tuned'] !== undefined);
  assert.ok(existsSync(join(out, 'finetune', 'adapter', 'adapter_config.json')));
  // the adapters differ: the fine-tuned one holds every weight, the prefix a few
  const size = (f: string) => readFileSync(f).length;
  assert.ok(size(join(out, 'finetune', 'adapter', 'adapter_model.safetensors')) > 10 * size(join(out, 'adapter', 'adapter_model.safetensors')));
});

test('quickstart: offline without the data: one clear message saying where to put it, exit 2', () => {
  const empty = mkdtempSync(join(tmpdir(), 'pt-nodata-'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), 'quickstart', '--offline', '--out', join(empty, 'out')], {
    cwd: root, encoding: 'utf8', env: { ...process.env, PREFIX_TUNING_SHARED: empty, PREFIX_TUNING_CACHE: join(empty, 'cache') },
  });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /the E2E dataset is not available/);
  assert.match(r.stderr, /data\/e2e/);
  assert.equal(r.stderr.trim().split('\n').length <= 3, true, r.stderr);
  assert.equal(r.stdout, '');
});
