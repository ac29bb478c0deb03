/**
 * `generate` on checkpoints whose generation_config.json drives decoding (fixtures/genconfig,
 * written by tools/make_genconfig_fixtures.py with transformers 5.23): a summarisation-style BART
 * (4 beams, max_length, min_length, early_stopping, forced BOS/EOS, no_repeat_ngram_size, length
 * penalty) and a GPT-2 (max_length counting the prompt, two EOS ids, repetition penalty, 3 beams),
 * each decoded with the file alone and with explicit options. The CLI (core's decoder on ONNX)
 * must return transformers' `generate` tokens, and its beam scores within 1e-4. All sources of a
 * case go in one batch: each row must still decode as transformers decoded it alone (GPT-2's
 * prompts have different lengths, so `max_length` leaves each its own room).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, repoRoot, rmrf, tempDir } from './train-fixture.ts';

interface Case {
  readonly name: string;
  readonly args: string[];
  readonly kwargs: Record<string, unknown>;
  readonly results: { input_ids: number[]; sequences: number[][]; scores?: number[] }[];
}

const work = tempDir('pt-genconfig-');
after(() => rmrf(work));

const specials: Record<string, Record<number, string>> = { 'bart-sum': { 0: '<s>', 1: '<pad>', 2: '</s>' }, 'gpt2-gen': {} };

for (const name of ['bart-sum', 'gpt2-gen']) {
  const dir = join(repoRoot, 'fixtures', 'genconfig', name);
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as { cases: Case[] };
  const gen = JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')) as { eos_token_id: number | number[] };
  const text = (ids: readonly number[]): string => ids.map((i) => specials[name]![i] ?? `w${i}`).join(' ');
  for (const c of expected.cases) {
    test(`${name} (${c.name}): generate ${c.args.join(' ') || '(generation_config.json alone)'} equals transformers' generate(${JSON.stringify(c.kwargs)})`, () => {
      const input = join(work, `${name}-${c.name}.txt`);
      writeFileSync(input, c.results.map((r) => text(r.input_ids)).join('\n') + '\n');
      const r = cli(['generate', '--model', dir, '--input', input, '--json', '--backend', 'onnx', ...c.args]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { prompt_ids: number[]; ids: number[]; score: number });
      const eosIds = ((c.kwargs['eos_token_id'] ?? gen.eos_token_id) as number | number[]);
      const eos = typeof eosIds === 'number' ? [eosIds] : eosIds;
      const want = c.results.flatMap((res) => res.sequences.map((s, k) => {
        const stop = s.findIndex((t) => eos.includes(t)); // transformers pads after EOS; the CLI stops there
        return { prompt: res.input_ids, ids: stop < 0 ? s : s.slice(0, stop + 1), score: res.scores?.[k] };
      }));
      assert.equal(lines.length, want.length, r.stdout);
      lines.forEach((l, i) => {
        assert.deepEqual(l.prompt_ids, want[i]!.prompt);
        assert.deepEqual(l.ids, want[i]!.ids, `sequence ${i}`);
        if (want[i]!.score !== undefined) assert.ok(Math.abs(l.score - want[i]!.score!) < 1e-4, `score ${i}: ${l.score} vs ${want[i]!.score}`);
      });
    });
  }
}

test("the fixture's early_stopping values decide different outputs (so the cases above test the flag)", () => {
  const { cases } = JSON.parse(readFileSync(join(repoRoot, 'fixtures', 'genconfig', 'bart-sum', 'expected.json'), 'utf8')) as { cases: Case[] };
  const of = (n: string) => JSON.stringify(cases.find((c) => c.name === n)!.results.map((r) => r.sequences));
  assert.notEqual(of('file'), of('early-stopping-false'));
  assert.notEqual(of('early-stopping-never'), of('early-stopping-false'));
});
