import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const shared = process.env.PREFIX_TUNING_SHARED ?? join(root, '..', 'shared');
const model = join(shared, 'models/stories260K/stories260K.bin');
const tok = join(shared, 'models/stories260K/tok512.bin');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), ...args], { cwd: root, encoding: 'utf8' });

test('prefix-tune convert --from llama2c writes a HF directory', { skip: !existsSync(model) && 'shared models missing' }, () => {
  const out = join(mkdtempSync(join(tmpdir(), 'pt-convert-')), 'st');
  const r = cli('convert', '--from', 'llama2c', model, tok, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /LlamaForCausalLM, 5 layers, hidden 64, 8 heads \(4 kv\), vocab 512, context 512, tied embeddings/);
  assert.deepEqual(readdirSync(out).sort(), ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']);
  const again = cli('convert', '--from', 'llama2c', model, tok, '--out', out);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already holds a model/);
  assert.match(again.stderr, /pass --overwrite to replace it/);
  assert.equal(cli('convert', '--from', 'llama2c', model, tok, '--out', out, '--overwrite').status, 0);
});

test('prefix-tune convert: usage errors exit 2, bad files exit 1 with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-convert-'));
  const noFrom = cli('convert', 'a', 'b', '--out', dir);
  assert.equal(noFrom.status, 2);
  assert.match(noFrom.stderr, /missing required option '--from'/);
  const badFrom = cli('convert', '--from', 'gguf', 'a', 'b', '--out', dir);
  assert.equal(badFrom.status, 2);
  assert.match(badFrom.stderr, /unknown source format 'gguf'/);
  assert.equal(cli('convert', '--from', 'llama2c', 'only-one', '--out', dir).status, 2);
  const missing = cli('convert', '--from', 'llama2c', join(dir, 'nope.bin'), join(dir, 'nope2.bin'), '--out', dir);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no such file/);
  writeFileSync(join(dir, 'm.bin'), Buffer.alloc(40));
  writeFileSync(join(dir, 't.bin'), Buffer.alloc(4));
  const garbage = cli('convert', '--from', 'llama2c', join(dir, 'm.bin'), join(dir, 't.bin'), '--out', join(dir, 'o'));
  assert.equal(garbage.status, 1);
  assert.match(garbage.stderr, /llama2c model: header field dim = 0 is out of range/);
  assert.equal(cli('convert', '--help').status, 0);
});
