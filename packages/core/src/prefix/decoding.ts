/**
 * A variant's decoding plan: what decode/ needs from an injection (its prefill and encoder
 * graphs, virtual positions, infix geometry, bank size and parameters), and the decoders of an
 * injected model built on it. Decoding itself never sees an injection.
 */
import type { Backend } from '../backend/backend.ts';
import type { HostTensor } from '../backend/tensor.ts';
import type { BartConfig, CausalLmConfig } from '../models/config.ts';
import type { CausalPlan, Seq2SeqPlan } from '../decode/plan.ts';
import { causalSession, type CausalDecoder } from '../decode/session.ts';
import { seq2seqSession, type Seq2SeqDecoder } from '../decode/seq2seq.ts';
import type { Injection } from './inject.ts';
import { injectedPrefillGraph, virtualPrefixLength, infixLength, kvLengths, hasInfix } from './graphs.ts';
import { injectedBartEncoderGraph, injectedBartPrefillGraph } from './bart-generation.ts';

/** The decoder-only plan of an injection. */
export const causalPlan = (cfg: CausalLmConfig, inj: Injection): CausalPlan => ({
  prefill: injectedPrefillGraph(cfg, inj),
  virtual: virtualPrefixLength(cfg, inj),
  infixAt: hasInfix(inj) ? kvLengths(inj, 'infix') : new Map<number, number>(),
  infix: hasInfix(inj) ? infixLength(inj) : 0,
  users: inj.users,
  params: inj.trainable.map((p) => ({ name: p.name, shape: p.shape })),
  stored: inj.mode === 'stored',
});

/** The encoder-decoder plan of an injection. */
export const seq2seqPlan = (cfg: BartConfig, inj: Injection): Seq2SeqPlan => {
  if (inj.dropoutInputs) throw new Error('seq2seqDecoder: the injection takes dropout masks (inject without `dropout` for generation)');
  return { encoder: injectedBartEncoderGraph(cfg, inj), prefill: injectedBartPrefillGraph(cfg, inj), users: inj.users, dropout: false };
};

/**
 * Compiles the prefill and step graphs of a decoder-only `cfg` with `params` (model weights,
 * and the injection's parameters when `inj` is given: a stored adapter or training-mode params).
 */
export const causalDecoder = async (backend: Backend, cfg: CausalLmConfig, params: Readonly<Record<string, HostTensor>>, inj?: Injection): Promise<CausalDecoder> =>
  causalSession(backend, cfg, params, inj ? causalPlan(cfg, inj) : undefined);

/**
 * Compiles the encoder, prefill and step graphs of BART `cfg` with `params` (model weights, and
 * the injection's parameters when `inj` is given). Errors (a variant that does not fit) are rejections.
 */
export const seq2seqDecoder = async (backend: Backend, cfg: BartConfig, params: Readonly<Record<string, HostTensor>>, inj?: Injection): Promise<Seq2SeqDecoder> =>
  seq2seqSession(backend, cfg, params, inj ? seq2seqPlan(cfg, inj) : undefined);
