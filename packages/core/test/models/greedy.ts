/**
 * A small greedy decoding loop over the prefill and step graphs on the reference evaluator
 * (the test oracle for the KV-cache graphs; the library's decoders live in src/decode).
 */
import { evaluate } from '../../src/backend/reference.ts';
import { i32, type HostTensor } from '../../src/backend/tensor.ts';
import {
  type BartConfig, type CausalLmConfig,
  prefillGraph, stepGraph, bartEncoderGraph, bartPrefillGraph, bartStepGraph, eosTokenIds,
} from '../../src/models/index.ts';

const argmax = (x: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
};

/** Feeds `past_key_values.<i><kind>.key|value` from a previous call's `present.<i><kind>.*` outputs. */
const pastFeeds = (out: Record<string, HostTensor>, kinds: readonly string[]): Record<string, HostTensor> =>
  Object.fromEntries(
    Object.entries(out)
      .filter(([k]) => k.startsWith('present.') && kinds.some((kind) => k.endsWith(`${kind}.key`) || k.endsWith(`${kind}.value`)))
      .map(([k, v]) => [`past_key_values.${k.slice('present.'.length)}`, v]),
  );

/**
 * Greedy continuation of one prompt with a decoder-only model: tokens generated after the
 * prompt, up to and including the first eos, at most `maxNew`.
 */
export const greedyCausal = (cfg: CausalLmConfig, params: Record<string, HostTensor>, prompt: readonly number[], maxNew: number): number[] => {
  const eos = eosTokenIds(cfg);
  const [pre, step] = [prefillGraph(cfg), stepGraph(cfg)];
  let out = evaluate(pre, { input_ids: i32([1, prompt.length], prompt) }, params);
  const gen: number[] = [];
  for (;;) {
    const tok = argmax(out['logits']!.data as Float32Array);
    gen.push(tok);
    if (eos.includes(tok) || gen.length === maxNew) return gen;
    out = evaluate(step, { input_ids: i32([1, 1], [tok]), ...pastFeeds(out, ['']) }, params);
  }
};

/**
 * Greedy decoding with BART as transformers' `generate` does it: the decoder starts from
 * `decoder_start_token_id`, and with `forced_eos_token_id` the last position allowed by
 * `maxNew` is forced to that id. Returns the generated tokens (after the start token).
 */
export const greedyBart = (cfg: BartConfig, params: Record<string, HostTensor>, source: readonly number[], maxNew: number): number[] => {
  const eos = eosTokenIds(cfg);
  const S = source.length;
  const mask = i32([1, S], new Array<number>(S).fill(1));
  const enc = evaluate(bartEncoderGraph(cfg), { input_ids: i32([1, S], source), attention_mask: mask }, params);
  let out = evaluate(bartPrefillGraph(cfg), {
    decoder_input_ids: i32([1, 1], [cfg.decoder_start_token_id ?? 2]),
    encoder_hidden_states: enc['last_hidden_state']!,
    encoder_attention_mask: mask,
  }, params);
  const cross = pastFeeds(out, ['.encoder']);
  const step = bartStepGraph(cfg);
  const forced = cfg.forced_eos_token_id === null ? [] : typeof cfg.forced_eos_token_id === 'number' ? [cfg.forced_eos_token_id] : cfg.forced_eos_token_id;
  const gen: number[] = [];
  for (;;) {
    const tok = gen.length === maxNew - 1 && forced.length > 0 ? forced[0]! : argmax(out['logits']!.data as Float32Array);
    gen.push(tok);
    if (eos.includes(tok) || gen.length === maxNew) return gen;
    out = evaluate(step, { decoder_input_ids: i32([1, 1], [tok]), encoder_attention_mask: mask, ...cross, ...pastFeeds(out, ['.decoder']) }, params);
  }
};
