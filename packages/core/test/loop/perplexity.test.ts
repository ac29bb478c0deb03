/**
 * Perplexity equals transformers' loss (fixtures/fidelity/perplexity, tools/make_fidelity_fixtures.py):
 * a Llama on a token stream cut into windows (the causal LM loss of each window), and BART's
 * conditional loss of (source, target) pairs on a 3+2-layer BART, batched with padding.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { referenceBackend } from '../../src/backend/reference.ts';
import { decodeModelConfig, paramsFromCheckpoint, type BartConfig, type CausalLmConfig } from '../../src/models/index.ts';
import { causalLmPerplexity, compileLossSum, nllOfWindows, seq2seqPerplexity, windows } from '../../src/loop/perplexity.ts';
import { readCheckpoint, repoRoot } from '../models/fixtures.ts';

const ex = JSON.parse(readFileSync(join(repoRoot, 'fixtures', 'fidelity', 'perplexity', 'expected.json'), 'utf8'));
const load = (dir: string) => {
  const cfg = decodeModelConfig(JSON.parse(readFileSync(join(repoRoot, dir, 'config.json'), 'utf8')));
  assert.ok(E.isRight(cfg), E.isLeft(cfg) ? cfg.left : '');
  const params = paramsFromCheckpoint(cfg.right, readCheckpoint(join(repoRoot, dir, 'model.safetensors')));
  assert.ok(E.isRight(params));
  return { cfg: cfg.right, params: params.right };
};

test('Llama: window losses and the stream perplexity equal transformers', async () => {
  const c = ex.causal;
  const { cfg, params } = load(c.model);
  assert.equal(cfg.model_type, 'llama');
  const wins = windows(c.ids, c.seq_len);
  assert.equal(wins.length, c.window_losses.length);
  const exe = await compileLossSum(referenceBackend(), cfg, params);
  for (const [i, w] of wins.entries()) {
    const r = await nllOfWindows(exe, [w], 1);
    assert.ok(Math.abs(r.nll / r.tokens - c.window_losses[i]) < 1e-4, `window ${i}: ${r.nll / r.tokens} vs ${c.window_losses[i]}`);
  }
  await exe.dispose();
  const all = await causalLmPerplexity(referenceBackend(), cfg as CausalLmConfig, params, c.ids, { seqLen: c.seq_len, batch: 2 });
  assert.equal(all.tokens, c.tokens);
  assert.ok(Math.abs(all.nll / all.tokens - c.nll) < 1e-4, `${all.nll / all.tokens} vs ${c.nll}`);
});

test('BART: conditional loss of (source, target) pairs equals transformers, batched with padding', async () => {
  const s = ex.seq2seq;
  const { cfg, params } = load(s.model);
  const pairs = s.pairs.map((p: { input_ids: number[]; labels: number[] }) => ({ inputIds: p.input_ids, labels: p.labels }));
  for (const [i, p] of pairs.entries()) {
    const r = await seq2seqPerplexity(referenceBackend(), cfg as BartConfig, params, [p], { batch: 1 });
    assert.ok(Math.abs(r.nll / r.tokens - s.pairs[i].loss) < 1e-4, `pair ${i}`);
  }
  const r = await seq2seqPerplexity(referenceBackend(), cfg as BartConfig, params, pairs, { batch: 2 });
  assert.equal(r.tokens, s.tokens);
  assert.ok(Math.abs(r.nll / r.tokens - s.nll) < 1e-4, `${r.nll / r.tokens} vs ${s.nll}`);
});
