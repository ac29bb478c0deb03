/**
 * `prefix-tune generate --adapter` with an adapter PEFT wrote for BART (`SEQ_2_SEQ_LM`, on a
 * BART with 3 encoder and 2 decoder layers; fixtures/fidelity/peft-bart): greedy and 4-beam
 * output equal PEFT's `generate` token for token on ONNX. The fixture model has no tokenizer, so
 * the test gives it a word-level one whose token `wN` is id N.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(root, 'packages/cli/src/main.ts'), ...args], { cwd: root, encoding: 'utf8' });
const fx = join(root, 'fixtures', 'fidelity', 'peft-bart');

test('generate with a PEFT SEQ_2_SEQ_LM BART adapter equals PEFT generate (greedy and 4 beams)', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-peft-bart-'));
  for (const f of readdirSync(join(fx, 'bart-enc3-dec2'))) copyFileSync(join(fx, 'bart-enc3-dec2', f), join(dir, f));
  const specials = ['<s>', '<pad>', '</s>', '<unk>'];
  const vocab = Object.fromEntries([...specials, ...Array.from({ length: 60 }, (_, i) => `w${i + 4}`)].map((t, i) => [t, i]));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
    version: '1.0', truncation: null, padding: null, normalizer: null, post_processor: null,
    added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    pre_tokenizer: { type: 'WhitespaceSplit' }, decoder: { type: 'WordPiece', prefix: '##', cleanup: false },
    model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
  }));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' }));
  const ex = JSON.parse(readFileSync(join(fx, 'expected.json'), 'utf8'));
  for (const kind of ['greedy', 'beam'] as const) {
    const g = ex.generation[kind];
    const src = (g.encoder_input_ids as number[]).slice(1, -1).map((i) => `w${i}`).join(' ');
    const r = cli('generate', '--model', dir, '--adapter', join(fx, 'adapter'), '--prompt', src, '--max-new-tokens', String(g.generate_kwargs.max_new_tokens),
      '--beams', String(g.generate_kwargs.num_beams), '--no-repeat-ngram', String(g.generate_kwargs.no_repeat_ngram_size), '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { prompt_ids: number[]; ids: number[] };
    assert.deepEqual(out.prompt_ids, g.encoder_input_ids);
    assert.deepEqual([2, ...out.ids], g.sequences[0], kind);
  }
});
