/**
 * Decoding on the transformers-written fixtures equals transformers' `generate`, token for
 * token: greedy for every decoder-only fixture, beam search (num_beams=5, length_penalty,
 * min_length, no_repeat_ngram_size, bad_words_ids, early_stopping) where recorded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import { referenceBackend } from '../../src/backend/reference.ts';
import { decodeModelConfig, paramsFromCheckpoint, eosTokenIds, type CausalLmConfig } from '../../src/models/index.ts';
import { causalDecoder } from '../../src/prefix/decoding.ts';
import { generate } from '../../src/decode/search.ts';
import { hfOptions } from './hf.ts';
import { fixtureNames, loadFixture } from '../models/fixtures.ts';

const causal = fixtureNames().filter((n) => !n.startsWith('bart'));

for (const name of causal) {
  test(`${name}: greedy and beam search equal transformers' generate`, async () => {
    const fx = loadFixture(name);
    const cfg = decodeModelConfig(fx.config);
    assert.ok(E.isRight(cfg));
    const params = paramsFromCheckpoint(cfg.right, fx.checkpoint);
    assert.ok(E.isRight(params));
    const c = cfg.right as CausalLmConfig;
    const dec = await causalDecoder(referenceBackend(), c, params.right);
    const eos = fx.expected.generation_config?.eos_token_id !== undefined ? [fx.expected.generation_config.eos_token_id].flat() : eosTokenIds(c);
    const g = fx.expected.greedy;
    const out = await generate(await dec.start([g.prompt_ids]), [g.prompt_ids], hfOptions(g.generate_kwargs, eos));
    // transformers pads after EOS; we stop at EOS
    const want = g.new_tokens as number[];
    const cut = want.findIndex((t) => eos.includes(t));
    assert.deepEqual(out.tokens[0], cut >= 0 ? want.slice(0, cut + 1) : want);
    const b = fx.expected.beam;
    if (b) {
      const o = hfOptions(b.generate_kwargs, eos);
      const r = await generate(await dec.start([b.prompt_ids], { beams: o.numBeams! }), [b.prompt_ids], o);
      const seq = (b.sequences[0] as number[]).slice(b.prompt_ids.length);
      const end = seq.findIndex((t) => eos.includes(t));
      assert.deepEqual(r.tokens[0], end >= 0 ? seq.slice(0, end + 1) : seq);
      assert.ok(Math.abs(r.scores[0]! - b.sequences_scores.data[0]) < 1e-4, `score ${r.scores[0]} vs ${b.sequences_scores.data[0]}`);
    }
    await dec.dispose();
  });
}
