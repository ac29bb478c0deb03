/**
 * Model fixtures on ONNX Runtime: the logits and key/values of GPT-2, Llama and BART equal
 * Hugging Face transformers' on checkpoints it wrote (fixtures/models, tools/make_fixtures.py)
 * within 1e-4, and greedy and beam-search continuations through core's cached decoders
 * (`causalDecoder`, what the CLI runs; BART: `seq2seqDecoder`) equal transformers' `generate`,
 * token for token.
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import {
  type BartConfig, type CausalLmConfig, type ModelConfig, type HostTensor, type Executable, type Graph, decodeModelConfig, paramsFromCheckpoint, parseSafetensors, toFloat32, causalLmGraph, bartGraph, eosTokenIds, i32, seq2seqDecoder, seq2seqGenerateOptions, causalDecoder
} from '@prefix-tuning/core';
import { bartEncoderGraph, bartPrefillGraph, bartStepGraph } from '@prefix-tuning/core/models';
import { beamSearch, greedyOrSample } from '@prefix-tuning/core/decode';
import { onnxBackend } from '../src/index.ts';
import { fixturesDir } from './paths.ts';

const TOL = 1e-4;
const dir = join(fixturesDir, 'models');
const names = existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(join(dir, n, 'expected.json'))).sort() : [];
const backend = onnxBackend({ intraOpNumThreads: 1 });

interface JsonTensor { shape: number[]; data: number[] }

const load = (name: string) => {
  const cfg = decodeModelConfig(JSON.parse(readFileSync(join(dir, name, 'config.json'), 'utf8')));
  if (E.isLeft(cfg)) throw new Error(`${name}: ${cfg.left}`);
  const file = parseSafetensors(new Uint8Array(readFileSync(join(dir, name, 'model.safetensors'))));
  if (E.isLeft(file)) throw new Error(`${name}: ${file.left}`);
  const ckpt: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const [k, t] of file.right.tensors) {
    const d = toFloat32(t);
    if (E.isLeft(d)) throw new Error(d.left);
    ckpt[k] = { shape: t.shape, data: d.right };
  }
  const params = paramsFromCheckpoint(cfg.right, ckpt);
  if (E.isLeft(params)) throw new Error(`${name}: ${params.left}`);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const expected = JSON.parse(readFileSync(join(dir, name, 'expected.json'), 'utf8')) as any;
  return { cfg: cfg.right as ModelConfig, params: params.right, expected };
};

const ids = (t: JsonTensor): HostTensor => i32(t.shape, t.data);

const close = (what: string, got: HostTensor | undefined, want: JsonTensor): void => {
  assert.ok(got, `${what}: missing output`);
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  let d = 0;
  for (let i = 0; i < want.data.length; i++) d = Math.max(d, Math.abs((got.data[i] as number) - want.data[i]!));
  assert.ok(d <= TOL, `${what}: max |diff| ${d} > ${TOL}`);
};

const argmax = (x: Float32Array): number => x.reduce((b, v, i) => (v > x[b]! ? i : b), 0);

describe('model fixtures on onnxruntime equal transformers', () => {
  it('has fixtures for GPT-2, Llama and BART', () => {
    for (const fam of ['gpt2', 'llama', 'bart']) assert.ok(names.some((n) => n.startsWith(fam)), `no ${fam} fixture (${names.join(', ')})`);
  });

  for (const name of names) {
    describe(name, () => {
      const { cfg, params, expected } = load(name);
      const inp = expected.inputs;
      const compiled: Executable[] = [];
      const compile = async (g: Graph): Promise<Executable> => {
        const ex = await backend.compile(g, { params });
        compiled.push(ex);
        return ex;
      };
      after(async () => { for (const ex of compiled) await ex.dispose(); });

      it('logits and key/values of the full forward with a padding mask', async () => {
        if (cfg.model_type === 'bart') {
          const ex = await compile(bartGraph(cfg, { decoderAttentionMask: true }));
          const out = await ex.run({
            input_ids: ids(inp.input_ids), attention_mask: ids(inp.attention_mask),
            decoder_input_ids: ids(inp.decoder_input_ids), decoder_attention_mask: ids(inp.decoder_attention_mask),
          });
          close('logits', out['logits'], expected.logits);
          const enc = expected.encoder_hidden_states; // not in every fixture
          if (enc) close('encoder_last_hidden_state', out['encoder_last_hidden_state'], enc[enc.length - 1]);
          return;
        }
        const ex = await compile(causalLmGraph(cfg, { attentionMask: true, presents: true }));
        const out = await ex.run({ input_ids: ids(inp.input_ids), attention_mask: ids(inp.attention_mask) });
        close('logits', out['logits'], expected.logits);
        expected.past_key_values.forEach((kv: { key: JsonTensor; value: JsonTensor }, i: number) => {
          close(`present.${i}.key`, out[`present.${i}.key`], kv.key);
          close(`present.${i}.value`, out[`present.${i}.value`], kv.value);
        });
      });

      it('greedy continuation through the cached decoder', async () => {
        const g = expected.greedy;
        const maxNew = g.generate_kwargs.max_new_tokens as number;
        if (cfg.model_type === 'bart') {
          const bart = cfg as BartConfig;
          const src = g.encoder_input_ids as number[];
          const mask = i32([1, src.length], new Array<number>(src.length).fill(1));
          const enc = await (await compile(bartEncoderGraph(bart))).run({ input_ids: i32([1, src.length], src), attention_mask: mask });
          const step = await compile(bartStepGraph(bart));
          let out = await (await compile(bartPrefillGraph(bart))).run({
            decoder_input_ids: i32([1, 1], [bart.decoder_start_token_id ?? 2]), encoder_hidden_states: enc['last_hidden_state']!, encoder_attention_mask: mask,
          });
          const past = (o: Record<string, HostTensor>, kind: string) => Object.fromEntries(Object.entries(o)
            .filter(([k]) => k.startsWith('present.') && k.includes(kind)).map(([k, v]) => [`past_key_values.${k.slice(8)}`, v]));
          const cross = past(out, '.encoder.');
          const forced = bart.forced_eos_token_id === null ? [] : typeof bart.forced_eos_token_id === 'number' ? [bart.forced_eos_token_id] : bart.forced_eos_token_id;
          const gen: number[] = [];
          for (;;) {
            const tok = gen.length === maxNew - 1 && forced.length > 0 ? forced[0]! : argmax(out['logits']!.data as Float32Array);
            gen.push(tok);
            if (eosTokenIds(bart).includes(tok) || gen.length === maxNew) break;
            out = await step.run({ decoder_input_ids: i32([1, 1], [tok]), encoder_attention_mask: mask, ...cross, ...past(out, '.decoder.') });
          }
          assert.deepEqual(gen, g.new_tokens);
          return;
        }
        const c = cfg as CausalLmConfig;
        const prompt = g.prompt_ids as number[];
        const dec = await causalDecoder(backend, c, params);
        const r = await greedyOrSample(await dec.start([prompt]), [prompt], { maxNewTokens: maxNew, eosTokenIds: eosTokenIds(c) });
        await dec.dispose();
        assert.deepEqual(r.tokens[0], g.new_tokens);
      });

      if (cfg.model_type === 'bart' && expected.beam) {
        it('beam search through the encoder-decoder session (transformers generate, num_beams > 1)', async () => {
          const bart = cfg as BartConfig;
          const b = expected.beam;
          const kw = b.generate_kwargs;
          const dec = await seq2seqDecoder(backend, bart, params);
          const r = await beamSearch(await dec.start([b.encoder_input_ids], { beams: kw.num_beams }), [dec.decoderPrompt], {
            ...seq2seqGenerateOptions(bart), maxNewTokens: kw.max_new_tokens, numBeams: kw.num_beams, lengthPenalty: kw.length_penalty, earlyStopping: kw.early_stopping,
            minLength: kw.min_length, noRepeatNgramSize: kw.no_repeat_ngram_size, badWordsIds: kw.bad_words_ids,
          });
          await dec.dispose();
          assert.deepEqual([...dec.decoderPrompt, ...r.tokens[0]!], b.sequences[0]);
          assert.ok(Math.abs(r.scores[0]! - b.sequences_scores.data[0]) < 1e-4, `score ${r.scores[0]} vs ${b.sequences_scores.data[0]}`);
        });
      }

      if (cfg.model_type !== 'bart' && expected.beam) {
        it('beam search through the cached decoder (transformers generate, num_beams > 1)', async () => {
          const c = cfg as CausalLmConfig;
          const b = expected.beam;
          const kw = b.generate_kwargs;
          const K = kw.num_beams as number;
          const prompt = b.prompt_ids as number[];
          const dec = await causalDecoder(backend, c, params);
          const r = await beamSearch(await dec.start([prompt], { beams: K }), [prompt], {
            maxNewTokens: kw.max_new_tokens, numBeams: K, lengthPenalty: kw.length_penalty, earlyStopping: kw.early_stopping,
            eosTokenIds: eosTokenIds(c), minLength: kw.min_length, noRepeatNgramSize: kw.no_repeat_ngram_size, badWordsIds: kw.bad_words_ids,
          });
          await dec.dispose();
          assert.deepEqual([...prompt, ...r.tokens[0]!], b.sequences[0]);
          assert.ok(Math.abs(r.scores[0]! - b.sequences_scores.data[0]) < 1e-4, `score ${r.scores[0]} vs ${b.sequences_scores.data[0]}`);
        });
      }
    });
  }
});
