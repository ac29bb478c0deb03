/**
 * `@prefix-tuning/core/decode`: logits processors and warpers, greedy/beam/sampling search,
 * `generation_config.json` semantics, and the decoding sessions (decoder-only with a KV cache,
 * BART, continuous batching with prefix banks).
 */
export * from './processors.ts';
export * from './search.ts';
export * from './options.ts';
export { causalSession, type CausalDecoder, type StartOptions } from './session.ts';
export type { CausalPlan, Seq2SeqPlan, PlanParam } from './plan.ts';
export { appendStepGraph } from './cache.ts';
export { continuousDecoder, RowKvCache, type ContinuousDecoder, type PrefixBank, type RowRequest, type FinishReason } from './continuous.ts';
export { seq2seqSession, seq2seqGenerateOptions, type Seq2SeqDecoder } from './seq2seq.ts';
