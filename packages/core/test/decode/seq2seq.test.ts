/**
 * The encoder-decoder decoding session: on the transformers-written BART fixtures, greedy and
 * beam search equal transformers' `generate` token for token, and with PEFT's BART adapter
 * PEFT's `generate` (tools/make_peft_fixtures.py); with any variant (prefixes at the
 * encoder, decoder and cross-attention sites, an embedding-only prefix, a prefix bank,
 * compositions, the paper's and PEFT's layouts) cached greedy decoding of a padded batch equals
 * argmax decoding by recomputing the training graph's forward (`injectedBartForward`) for each
 * source alone; beam size 1 is greedy; beams reorder the caches.
 */
import { test } from 'node:test';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { input } from '../../src/ops/leaves.ts';
import { graph } from '../../src/ir/graph.ts';
import { evaluate, referenceBackend } from '../../src/backend/reference.ts';
import type { HostTensor } from '../../src/backend/tensor.ts';
import { GraphError } from '../../src/errors.ts';
import { decodeModelConfig, paramsFromCheckpoint, type BartConfig } from '../../src/models/index.ts';
import { inject, type InjectOptions } from '../../src/prefix/inject.ts';
import { injectedBartForward, modelSites } from '../../src/prefix/graphs.ts';
import { bartVirtualPositions } from '../../src/prefix/bart-generation.ts';
import type { Variant } from '../../src/prefix/variant.ts';
import { seq2seqGenerateOptions } from '../../src/decode/seq2seq.ts';
import { seq2seqDecoder } from '../../src/prefix/decoding.ts';
import { beamSearch, generate, greedyOrSample, type DecodeSession } from '../../src/decode/search.ts';
import { hfOptions } from './hf.ts';
import { fixtureNames, loadFixture, repoRoot } from '../models/fixtures.ts';
import { parseSafetensors, toFloat32 } from '../../src/io/safetensors.ts';
import { bartJson, decodeOk, randomParams, prng } from '../models/random.ts';

const i32 = (shape: number[], data: readonly number[]): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });
const randomTrainable = (specs: readonly { name: string; shape: readonly number[] }[], seed: number): Record<string, HostTensor> => {
  const rnd = prng(seed);
  return Object.fromEntries(specs.map((s) => [s.name, { dtype: 'float32' as const, shape: [...s.shape], data: Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => 2 * rnd() - 1) }]));
};

// ------------------------------------------------------------------ transformers' generate

for (const name of fixtureNames().filter((n) => n.startsWith('bart'))) {
  test(`${name}: greedy${loadFixture(name).expected.beam ? ' and beam search' : ''} equal transformers' generate`, async () => {
    const fx = loadFixture(name);
    const cfg = decodeModelConfig(fx.config);
    assert.ok(E.isRight(cfg));
    const bart = cfg.right as BartConfig;
    const params = paramsFromCheckpoint(bart, fx.checkpoint);
    assert.ok(E.isRight(params));
    const dec = await seq2seqDecoder(referenceBackend(), bart, params.right);
    assert.deepEqual(dec.decoderPrompt, [fx.expected.generation_config.decoder_start_token_id]);
    const ids = seq2seqGenerateOptions(bart);
    const eos = ids.eosTokenIds!;
    const g = fx.expected.greedy;
    const src = g.encoder_input_ids as number[];
    const out = await generate(await dec.start([src]), [dec.decoderPrompt], { ...hfOptions(g.generate_kwargs, eos), ...ids });
    assert.deepEqual([...dec.decoderPrompt, ...out.tokens[0]!], g.sequences[0]);
    const b = fx.expected.beam;
    if (b) {
      const o = { ...hfOptions(b.generate_kwargs, eos), ...ids };
      const r = await generate(await dec.start([b.encoder_input_ids], { beams: o.numBeams! }), [dec.decoderPrompt], o);
      assert.deepEqual([...dec.decoderPrompt, ...r.tokens[0]!], b.sequences[0]);
      assert.ok(Math.abs(r.scores[0]! - b.sequences_scores.data[0]) < 1e-4, `score ${r.scores[0]} vs ${b.sequences_scores.data[0]}`);
    }
    await dec.dispose();
  });
}

// ------------------------------------------------------------------ PEFT's generate with a BART adapter

const peftCase = join(repoRoot, 'fixtures', 'peft', 'bart-tiny-prefix-noproj');
const peftGen = existsSync(join(peftCase, 'expected.json'))
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  ? (JSON.parse(readFileSync(join(peftCase, 'expected.json'), 'utf8')) as any)
  : undefined;

test('a PEFT-written BART adapter (layout peft): greedy and beam search equal PEFT generate', { skip: peftGen?.generation_with_prefix === undefined && 'no BART PEFT generation oracle' }, async () => {
  const fx = loadFixture('bart-tiny');
  const cfg = decodeModelConfig(fx.config);
  assert.ok(E.isRight(cfg));
  const bart = cfg.right as BartConfig;
  const frozen = paramsFromCheckpoint(bart, fx.checkpoint);
  assert.ok(E.isRight(frozen));
  const file = parseSafetensors(new Uint8Array(readFileSync(join(peftCase, 'adapter', 'adapter_model.safetensors'))));
  assert.ok(E.isRight(file));
  const pe = file.right.tensors.get('prompt_embeddings')!;
  const data = toFloat32(pe);
  assert.ok(E.isRight(data));
  const pc = peftGen.peft_config;
  const inj = inject(modelSites(bart), { kind: 'prefix', length: pc.num_virtual_tokens }, { layout: 'peft', mode: 'stored', peftRows: pc.num_layers });
  const dec = await seq2seqDecoder(referenceBackend(), bart, { ...frozen.right, 'prefix.embedding.weight': { dtype: 'float32', shape: [...pe.shape], data: data.right } }, inj);
  const ids = seq2seqGenerateOptions(bart);
  for (const kind of ['greedy', 'beam'] as const) {
    const g = peftGen.generation_with_prefix[kind];
    const o = { ...hfOptions(g.generate_kwargs, ids.eosTokenIds!), ...ids };
    const r = await generate(await dec.start([g.encoder_input_ids], { beams: o.numBeams ?? 1 }), [dec.decoderPrompt], o);
    assert.deepEqual([...dec.decoderPrompt, ...r.tokens[0]!], g.sequences[0], kind);
    if (kind === 'beam') assert.ok(Math.abs(r.scores[0]! - g.sequences_scores.data[0]) < 1e-4, `score ${r.scores[0]} vs ${g.sequences_scores.data[0]}`);
  }
  await dec.dispose();
});

// ------------------------------------------------------------------ the law against the training graph

const variants: { v: Variant; o?: InjectOptions }[] = [
  { v: { kind: 'prefix', length: 2 } },
  { v: { kind: 'prefix', length: 2, sites: ['encoder'] } },
  { v: { kind: 'prefix', length: 1, sites: ['cross'] } },
  { v: { kind: 'prefix', length: 3, sites: ['self'] } },
  { v: { kind: 'prefix', length: 2, reparam: { kind: 'mlp', hidden: 3 } } },
  { v: { kind: 'prefix', length: 2, shared: true } },
  { v: { kind: 'embedding', length: 2 } },
  { v: { kind: 'compose', parts: [{ kind: 'prefix', length: 1 }, { kind: 'embedding', length: 1 }, { kind: 'prefix', length: 2, sites: ['self', 'cross'] }] } },
  { v: { kind: 'prefix', length: 2 }, o: { layout: 'peft' } },
  { v: { kind: 'prefix', length: 2, reparam: { kind: 'mlp', hidden: 2 } }, o: { layout: 'peft', peftRows: 3 } },
  { v: { kind: 'prefix', length: 2 }, o: { users: 3 } },
  { v: { kind: 'compose', parts: [{ kind: 'prefix', length: 1, sites: ['encoder', 'cross'] }, { kind: 'embedding', length: 2 }] }, o: { users: 2 } },
  { v: { kind: 'prefix', length: 1 }, o: { layout: 'peft', users: 2 } },
];

/** A session that records the logits it hands out (one [rows, V] array per step). */
const recording = (s: DecodeSession, log: Float64Array[]): DecodeSession => ({
  vocabSize: s.vocabSize,
  logits: async () => {
    const l = await s.logits();
    log.push(Float64Array.from(l));
    return l;
  },
  advance: (p, t) => s.advance(p, t),
});

const STEPS = 4;

test('cached decoding of a padded batch with any variant = argmax of the training forward, each source alone', async () => {
  await fc.assert(fc.asyncProperty(bartJson.map((j) => decodeOk(j) as BartConfig), fc.constantFrom(...variants), fc.integer({ min: 0, max: 1e6 }), async (cfg, { v, o }, seed) => {
    const inj = inject(modelSites(cfg), v, o);
    const params = { ...randomParams(cfg, seed), ...randomTrainable(inj.trainable, seed + 3) };
    const rnd = prng(seed + 7);
    const sources = [3, 1, 4].map((n) => Array.from({ length: n }, () => Math.floor(rnd() * cfg.vocab_size)));
    const users = inj.users > 0 ? sources.map((_, b) => (b + seed) % inj.users) : undefined;
    const backend = referenceBackend({ precision: 'f64' });
    const dec = await seq2seqDecoder(backend, cfg, params, inj);
    const prompts = sources.map(() => dec.decoderPrompt);
    const log: Float64Array[] = [];
    const batch = await greedyOrSample(recording(await dec.start(sources, users ? { userIds: users } : {}), log), prompts, { maxNewTokens: STEPS });
    assert.equal(log.length, STEPS);
    // the training graph's forward, teacher-forced on each row's own continuation
    const full = graph({
      logits: injectedBartForward(cfg, inj, {
        ids: input('input_ids', ['B', 'S'], 'int32'), mask: input('attention_mask', ['B', 'S'], 'int32'), decoderIds: input('decoder_input_ids', ['B', 'T'], 'int32'),
      }).logits,
    });
    const V = cfg.vocab_size;
    for (let b = 0; b < sources.length; b++) {
      const src = sources[b]!;
      const toks = batch.tokens[b]!;
      assert.equal(toks.length, STEPS);
      const dIds = [...dec.decoderPrompt, ...toks.slice(0, -1)];
      const want = evaluate(full, {
        input_ids: i32([1, src.length], src), attention_mask: i32([1, src.length], src.map(() => 1)), decoder_input_ids: i32([1, STEPS], dIds),
        ...(users ? { user_ids: i32([1], [users[b]!]) } : {}),
      }, params, { precision: 'f64' })['logits']!.data as Float64Array;
      for (let s = 0; s < STEPS; s++) {
        const row = Array.from(want.subarray(s * V, (s + 1) * V));
        assert.equal(toks[s], row.indexOf(Math.max(...row)), `${JSON.stringify({ v, o })} row ${b} step ${s}`);
        const got = log[s]!.subarray(b * V, (b + 1) * V);
        const d = Math.max(...row.map((x, i) => Math.abs(x - got[i]!)));
        assert.ok(d < 1e-9, `row ${b} step ${s}: cached logits differ from the training forward by ${d}`);
      }
      // padding never changes a row: the same source decoded alone
      const alone = await greedyOrSample(await dec.start([src], users ? { userIds: [users[b]!] } : {}), [dec.decoderPrompt], { maxNewTokens: STEPS });
      assert.deepEqual(alone.tokens[0], toks);
    }
    await dec.dispose();
  }), { numRuns: 26 });
});

test('beam search with one beam is greedy decoding; with beams, a batch equals each source alone', async () => {
  await fc.assert(fc.asyncProperty(bartJson.map((j) => decodeOk(j) as BartConfig), fc.constantFrom(...variants), fc.integer({ min: 0, max: 1e6 }), async (cfg, { v, o }, seed) => {
    const inj = inject(modelSites(cfg), v, o);
    const params = { ...randomParams(cfg, seed), ...randomTrainable(inj.trainable, seed + 3) };
    const rnd = prng(seed + 11);
    const sources = [2, 4].map((n) => Array.from({ length: n }, () => Math.floor(rnd() * cfg.vocab_size)));
    const users = inj.users > 0 ? sources.map((_, b) => (b + seed) % inj.users) : undefined;
    const at = (b: number) => (users ? { userIds: [users[b]!] } : {});
    const dec = await seq2seqDecoder(referenceBackend({ precision: 'f64' }), cfg, params, inj);
    const prompts = sources.map(() => dec.decoderPrompt);
    const eos = [0];
    const greedy = await greedyOrSample(await dec.start(sources, users ? { userIds: users } : {}), prompts, { maxNewTokens: STEPS });
    const one = await beamSearch(await dec.start(sources, { beams: 1, ...(users ? { userIds: users } : {}) }), prompts, { maxNewTokens: STEPS, numBeams: 1 });
    assert.deepEqual(one.tokens, greedy.tokens);
    const K = 3;
    const opts = { maxNewTokens: STEPS, numBeams: K, eosTokenIds: eos, lengthPenalty: 0.7 };
    const beams = await beamSearch(await dec.start(sources, { beams: K, ...(users ? { userIds: users } : {}) }), prompts, opts);
    for (let b = 0; b < sources.length; b++) {
      const alone = await beamSearch(await dec.start([sources[b]!], { beams: K, ...at(b) }), [dec.decoderPrompt], opts);
      assert.deepEqual(alone.tokens[0], beams.tokens[b]);
      assert.ok(Math.abs(alone.scores[0]! - beams.scores[b]!) < 1e-9);
    }
    await dec.dispose();
  }), { numRuns: 12 });
});

test('a row that adopts another source continues with that source (self and cross caches move with it)', async () => {
  await fc.assert(fc.asyncProperty(bartJson.map((j) => decodeOk(j) as BartConfig), fc.constantFrom(...variants), fc.integer({ min: 0, max: 1e6 }), async (cfg, { v, o }, seed) => {
    const inj = inject(modelSites(cfg), v, o);
    const params = { ...randomParams(cfg, seed), ...randomTrainable(inj.trainable, seed + 3) };
    const rnd = prng(seed + 5);
    const sources = [1, 3].map((n) => Array.from({ length: n }, () => Math.floor(rnd() * cfg.vocab_size)));
    const users = inj.users > 0 ? [0, inj.users - 1] : undefined;
    const dec = await seq2seqDecoder(referenceBackend({ precision: 'f64' }), cfg, params, inj);
    const tok = (k: number) => Int32Array.from([k % cfg.vocab_size, (k + 1) % cfg.vocab_size]);
    // rows [a, b] -> step -> swap rows -> step  ==  rows [b, a] -> step with swapped tokens -> step
    const s = await dec.start(sources, users ? { userIds: users } : {});
    await s.advance(Int32Array.from([0, 1]), tok(1));
    await s.advance(Int32Array.from([1, 0]), tok(3));
    const t = await dec.start([sources[1]!, sources[0]!], users ? { userIds: [users[1]!, users[0]!] } : {});
    await t.advance(Int32Array.from([0, 1]), Int32Array.from([...tok(1)].reverse()));
    await t.advance(Int32Array.from([0, 1]), tok(3));
    const [x, y] = [await s.logits(), await t.logits()];
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i]! - y[i]!) < 1e-9, `logit ${i}: ${x[i]} vs ${y[i]}`);
    await dec.dispose();
  }), { numRuns: 10 });
});

test('positions a variant takes: embedding tokens before the source, the decoder self prefix before the target', () => {
  const cfg = decodeOk({ model_type: 'bart', vocab_size: 11, d_model: 4, encoder_layers: 2, decoder_layers: 2, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 3, decoder_ffn_dim: 3, max_position_embeddings: 16 }) as BartConfig;
  const pos = (v: Variant, o?: InjectOptions) => bartVirtualPositions(inject(modelSites(cfg), v, o));
  assert.deepEqual(pos({ kind: 'prefix', length: 5 }), { source: 0, target: 5 });
  assert.deepEqual(pos({ kind: 'prefix', length: 5, sites: ['encoder', 'cross'] }), { source: 0, target: 0 });
  assert.deepEqual(pos({ kind: 'compose', parts: [{ kind: 'embedding', length: 3 }, { kind: 'prefix', length: 2 }, { kind: 'prefix', length: 1, sites: ['self'] }] }), { source: 3, target: 3 });
  assert.deepEqual(pos({ kind: 'prefix', length: 4 }, { layout: 'peft' }), { source: 0, target: 4 });
});

test('bad starts are errors naming the problem', async () => {
  const cfg = decodeOk({ model_type: 'bart', vocab_size: 11, d_model: 4, encoder_layers: 1, decoder_layers: 1, encoder_attention_heads: 2, decoder_attention_heads: 2, encoder_ffn_dim: 3, decoder_ffn_dim: 3, max_position_embeddings: 16 }) as BartConfig;
  const bankInj = inject(modelSites(cfg), { kind: 'prefix', length: 2 }, { users: 2 });
  const params = { ...randomParams(cfg, 1), ...randomTrainable(bankInj.trainable, 2) };
  const bank = await seq2seqDecoder(referenceBackend(), cfg, params, bankInj);
  await assert.rejects(bank.start([[3, 4]]), /one user id per source/);
  const plain = await seq2seqDecoder(referenceBackend(), cfg, params);
  await assert.rejects(plain.start([[3, 4]], { userIds: [0] }), /no prefix bank/);
  await assert.rejects(plain.start([[3], []]), /source 1 is empty/);
  await assert.rejects(plain.start([]), /no sources/);
  const s = await plain.start([[3], [4]]);
  await assert.rejects(s.advance(Int32Array.from([0]), Int32Array.from([1])), /2 parents and tokens/);
  await assert.rejects(seq2seqDecoder(referenceBackend(), cfg, params, inject(modelSites(cfg), { kind: 'infix', length: 2 })), (e) => e instanceof GraphError && /infix/.test(String(e)));
  await assert.rejects(seq2seqDecoder(referenceBackend(), cfg, params, inject(modelSites(cfg), { kind: 'prefix', length: 2, dropout: 0.1 }, { dropout: true })), /dropout/);
});
