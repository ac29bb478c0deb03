/**
 * A `DecodeSession` for encoder-decoder models (BART) on any backend, as transformers'
 * `generate` runs them: the sources are encoded once, every row's decoder starts from
 * `decoder_start_token_id` (the prompt the search functions see is `[decoder_start]`), and
 * one-token steps continue from two caches held on the host: the decoder self-attention cache
 * (reordered for beams) and the cross-attention cache computed once by the prefill.
 *
 * Three graphs are compiled once: the encoder, the decoder prefill and `bartStepGraph`. With
 * a variant, the encoder and the prefill are the plan's (prefix/ builds them from the
 * injection: the training graph's activations), and the prefixes sit in the
 * caches, so the step graph is the model's own. Sources of different lengths are right-padded
 * (the encoder's positions do not depend on padding), and each row may carry its own prefix
 * from a bank.
 */
import type { Backend, Executable } from '../backend/backend.ts';
import type { HostTensor } from '../backend/tensor.ts';
import { graphInputs } from '../ir/graph.ts';
import { type BartConfig, eosTokenIds } from '../models/config.ts';
import { bartEncoderGraph, bartPrefillGraph, bartStepGraph } from '../models/seq2seq.ts';
import type { Seq2SeqPlan } from './plan.ts';
import type { DecodeSession, GenerateOptions } from './search.ts';

export interface Seq2SeqDecoder {
  /** The decoder prompt of every row, `[decoder_start_token_id]`: pass it to `generate` for each source. */
  readonly decoderPrompt: readonly number[];
  /**
   * Starts a session for `sources` (encoder input ids, e.g. `<s> … </s>`), each repeated
   * `beams` times (rows b·beams … b·beams+beams-1). `padId` pads the sources (default: the
   * config's `pad_token_id`); a prefix bank takes one user id per source. `decoderStartTokenId`
   * replaces the config's (a generation config's `decoder_start_token_id`): the search's prompt
   * is then `[decoderStartTokenId]`.
   */
  start(sources: readonly (readonly number[])[], opts?: { beams?: number; userIds?: readonly number[]; padId?: number; decoderStartTokenId?: number }): Promise<DecodeSession>;
  dispose(): Promise<void>;
}

const i32 = (shape: number[], data: ArrayLike<number>): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });

/** Rows of `t` (leading axis) taken as `rows[i]` for row i. */
const takeRows = (t: HostTensor, rows: ArrayLike<number>): HostTensor => {
  const per = t.data.length / t.shape[0]!;
  const src = t.data as Float32Array; // any typed array: the copy keeps its type
  const dst = new (src.constructor as Float32ArrayConstructor)(rows.length * per);
  for (let i = 0; i < rows.length; i++) dst.set(src.subarray(rows[i]! * per, (rows[i]! + 1) * per), i * per);
  return { ...t, shape: [rows.length, ...t.shape.slice(1)], data: dst };
};

const idList = (v: number | readonly number[] | null): number[] => (v === null ? [] : typeof v === 'number' ? [v] : [...v]);

/**
 * The generation ids a BART config implies, as transformers reads them: EOS, and the forced
 * first (`forced_bos_token_id`) and last (`forced_eos_token_id`) tokens.
 */
export const seq2seqGenerateOptions = (cfg: BartConfig): Pick<GenerateOptions, 'eosTokenIds' | 'forcedBosTokenId' | 'forcedEosTokenIds' | 'padTokenId'> => ({
  eosTokenIds: eosTokenIds(cfg),
  ...(cfg.forced_bos_token_id !== null ? { forcedBosTokenId: cfg.forced_bos_token_id } : {}),
  ...(idList(cfg.forced_eos_token_id).length > 0 ? { forcedEosTokenIds: idList(cfg.forced_eos_token_id) } : {}),
  ...(cfg.pad_token_id !== null ? { padTokenId: cfg.pad_token_id } : {}),
});

/**
 * Compiles the encoder, prefill and step graphs of `cfg` with `params` (model weights, and the
 * variant's parameters when `plan` is given: see prefix/'s `seq2seqDecoder`, which makes the
 * plan from an injection).
 */
export const seq2seqSession = async (backend: Backend, cfg: BartConfig, params: Readonly<Record<string, HostTensor>>, plan?: Seq2SeqPlan): Promise<Seq2SeqDecoder> => {
  if (plan?.dropout) throw new Error('seq2seqDecoder: the injection takes dropout masks (inject without `dropout` for generation)');
  const encGraph = plan ? plan.encoder : bartEncoderGraph(cfg);
  const preGraph = plan ? plan.prefill : bartPrefillGraph(cfg);
  const takesUsers = (g: typeof encGraph) => graphInputs(g).some((n) => n.attrs.name === 'user_ids');
  const [encUsers, preUsers] = [takesUsers(encGraph), takesUsers(preGraph)];
  const enc: Executable = await backend.compile(encGraph, { params });
  const pre: Executable = await backend.compile(preGraph, { params });
  const step: Executable = await backend.compile(bartStepGraph(cfg), { params });
  const L = cfg.decoder_layers;
  const V = cfg.vocab_size;
  const start = cfg.decoder_start_token_id ?? 2;
  const bank = (plan?.users ?? 0) > 0;
  return {
    decoderPrompt: [start],
    async start(sources, opts = {}) {
      const K = opts.beams ?? 1;
      const first = opts.decoderStartTokenId ?? start;
      if (!Number.isInteger(first) || first < 0 || first >= V) throw new Error(`seq2seqDecoder: decoder start token ${first} is not in the vocabulary (${V})`);
      const Bn = sources.length;
      const R = Bn * K;
      if (Bn === 0) throw new Error('seq2seqDecoder: no sources');
      if (!Number.isInteger(K) || K < 1) throw new Error(`seq2seqDecoder: beams must be an integer >= 1, got ${K}`);
      if (bank && opts.userIds?.length !== Bn) throw new Error(`seq2seqDecoder: a prefix bank needs one user id per source (${Bn} sources, ${opts.userIds?.length ?? 0} ids)`);
      if (!bank && opts.userIds !== undefined) throw new Error('seq2seqDecoder: user ids given, but the decoder has no prefix bank');
      sources.forEach((s, b) => {
        if (s.length === 0) throw new Error(`seq2seqDecoder: source ${b} is empty`);
      });
      // right-padded sources: the encoder's positions of real tokens do not depend on padding
      const S = Math.max(...sources.map((s) => s.length));
      const ids = new Int32Array(Bn * S).fill(opts.padId ?? cfg.pad_token_id ?? 1);
      const mask = new Int32Array(Bn * S);
      sources.forEach((s, b) => {
        ids.set(s, b * S);
        mask.fill(1, b * S, b * S + s.length);
      });
      const users = bank ? i32([Bn], opts.userIds!) : undefined;
      const encOut = await enc.run({ input_ids: i32([Bn, S], ids), attention_mask: i32([Bn, S], mask), ...(encUsers ? { user_ids: users! } : {}) });
      const hidden = encOut['last_hidden_state']!; // [Bn, E+S, D]
      const Sh = hidden.shape[1]!;
      // the states' key mask: E virtual embedding tokens (always visible), then the source's
      const hMask = new Int32Array(Bn * Sh);
      for (let b = 0; b < Bn; b++) {
        hMask.fill(1, b * Sh, b * Sh + Sh - S);
        hMask.set(mask.subarray(b * S, (b + 1) * S), b * Sh + Sh - S);
      }
      // each source repeated for its beams (as transformers expands the encoder outputs)
      const expand = Int32Array.from({ length: R }, (_, r) => Math.floor(r / K));
      const preOut = await pre.run({
        decoder_input_ids: i32([R, 1], new Array<number>(R).fill(first)),
        encoder_hidden_states: takeRows(hidden, expand),
        encoder_attention_mask: takeRows(i32([Bn, Sh], hMask), expand),
        ...(preUsers ? { user_ids: takeRows(users!, expand) } : {}),
      });
      let logits = preOut['logits']!.data as Float32Array;
      let self: HostTensor[] = [];
      let cross: HostTensor[] = [];
      for (let l = 0; l < L; l++) {
        self.push(preOut[`present.${l}.decoder.key`]!, preOut[`present.${l}.decoder.value`]!);
        cross.push(preOut[`present.${l}.encoder.key`]!, preOut[`present.${l}.encoder.value`]!);
      }
      // the cross cache's key mask: the cross-attention prefix (always visible), then the states'
      const Sc = cross[0]!.shape[2]!;
      const cm = new Int32Array(R * Sc);
      for (let r = 0; r < R; r++) {
        const b = expand[r]!;
        cm.fill(1, r * Sc, r * Sc + Sc - Sh);
        cm.set(hMask.subarray(b * Sh, (b + 1) * Sh), r * Sc + Sc - Sh);
      }
      let crossMask = i32([R, Sc], cm);
      return {
        vocabSize: V,
        logits: async () => logits,
        async advance(parents, tokens) {
          if (parents.length !== R || tokens.length !== R) throw new Error(`seq2seqDecoder: advance needs ${R} parents and tokens, got ${parents.length} and ${tokens.length}`);
          if (!parents.every((p, i) => p === i)) self = self.map((t) => takeRows(t, parents));
          // rows of one source share the cross cache; it moves only when a row adopts another source's
          if (parents.some((p, i) => Math.floor(p / K) !== Math.floor(i / K))) {
            cross = cross.map((t) => takeRows(t, parents));
            crossMask = takeRows(crossMask, parents);
          }
          const f: Record<string, HostTensor> = { decoder_input_ids: i32([R, 1], tokens), encoder_attention_mask: crossMask };
          for (let l = 0; l < L; l++) {
            f[`past_key_values.${l}.decoder.key`] = self[2 * l]!;
            f[`past_key_values.${l}.decoder.value`] = self[2 * l + 1]!;
            f[`past_key_values.${l}.encoder.key`] = cross[2 * l]!;
            f[`past_key_values.${l}.encoder.value`] = cross[2 * l + 1]!;
          }
          const o = await step.run(f);
          logits = o['logits']!.data as Float32Array;
          self = [];
          for (let l = 0; l < L; l++) self.push(o[`present.${l}.decoder.key`]!, o[`present.${l}.decoder.value`]!);
        },
      };
    },
    async dispose() {
      await enc.dispose();
      await pre.dispose();
      await step.dispose();
    },
  };
};
