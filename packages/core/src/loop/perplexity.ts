/**
 * Perplexity: the summed negative log-likelihood (nats) and the number of predicted tokens of a
 * model on token data, as transformers' loss defines it, for every supported model.
 * - Decoder-only models (GPT-2, Llama): a token stream cut into windows; in each window every
 *   token after the first is predicted from those before it (`labels = input_ids`, shifted).
 * - Encoder-decoder models (BART): the conditional likelihood of each example's `labels`
 *   given its `inputIds` (decoder inputs = labels shifted right, as transformers derives them).
 * `perplexity = exp(nll / tokens)`.
 */
import type { Backend, Executable } from '../backend/backend.ts';
import type { HostTensor } from '../backend/tensor.ts';
import { graph } from '../ir/graph.ts';
import { type BartConfig, type CausalLmConfig, type ModelConfig, isEncoderDecoder } from '../models/config.ts';
import { causalLmGraph } from '../models/causal.ts';
import { bartGraph } from '../models/seq2seq.ts';

/** A summed negative log-likelihood and the tokens it predicts. */
export interface Nll {
  readonly nll: number;
  readonly tokens: number;
}

/** Windows of a token stream: non-overlapping, `len` long (the last may be shorter; windows under 2 tokens dropped). */
export const windows = (tokens: readonly number[], len: number): number[][] => {
  const out: number[][] = [];
  for (let i = 0; i < tokens.length; i += len) {
    const w = tokens.slice(i, i + len);
    if (w.length >= 2) out.push(w as number[]);
  }
  return out;
};

/**
 * The forward graph with the summed loss of a model: decoder-only `input_ids`, `labels`;
 * BART `input_ids`, `attention_mask`, `labels` (-100 = ignored). Parameters are state so that
 * new values can be written without recompiling (pretraining's validation).
 */
export const compileLossSum = async (backend: Backend, cfg: ModelConfig, params: Readonly<Record<string, HostTensor>>): Promise<Executable> => {
  const full = isEncoderDecoder(cfg) ? bartGraph(cfg, { loss: 'sum', shiftLabels: true }) : causalLmGraph(cfg, { loss: 'sum' });
  return backend.compile(graph({ loss: full.outputs['loss']! }), { params: {}, state: Object.fromEntries(Object.entries(params).map(([n, t]) => [n, { init: t }])) });
};

const i32 = (shape: number[], data: Int32Array): HostTensor => ({ dtype: 'int32', shape, data });

/**
 * Summed NLL of `wins` under a decoder-only model's `compileLossSum` executable (`len − 1`
 * predictions per window), batched `batch` windows of equal length.
 */
export const nllOfWindows = async (exe: Executable, wins: readonly (readonly number[])[], batch: number): Promise<Nll> => {
  let nll = 0;
  let tokens = 0;
  const byLen = new Map<number, (readonly number[])[]>();
  for (const w of wins) byLen.set(w.length, [...(byLen.get(w.length) ?? []), w]);
  for (const [len, ws] of byLen)
    for (let i = 0; i < ws.length; i += batch) {
      const part = ws.slice(i, i + batch);
      const ids = new Int32Array(part.length * len);
      part.forEach((w, r) => ids.set(w, r * len));
      const x = i32([part.length, len], ids);
      const out = await exe.run({ input_ids: x, labels: x }, ['loss']);
      nll += Number(out['loss']!.data[0]);
      tokens += part.length * (len - 1);
    }
  return { nll, tokens };
};

/** One encoder–decoder example: encoder ids and the target ids the decoder predicts. */
export interface Seq2SeqPair {
  readonly inputIds: readonly number[];
  readonly labels: readonly number[];
}

/**
 * Summed conditional NLL of each pair's labels given its inputs under BART's `compileLossSum`
 * executable, `batch` pairs per run (encoders padded with `pad_token_id` and masked, labels with
 * -100; every label counts).
 */
export const nllOfPairs = async (exe: Executable, cfg: BartConfig, pairs: readonly Seq2SeqPair[], batch: number): Promise<Nll> => {
  let nll = 0;
  let tokens = 0;
  const pad = cfg.pad_token_id ?? 1;
  for (let i = 0; i < pairs.length; i += batch) {
    const part = pairs.slice(i, i + batch);
    const S = Math.max(...part.map((p) => p.inputIds.length));
    const T = Math.max(...part.map((p) => p.labels.length));
    const ids = new Int32Array(part.length * S).fill(pad);
    const mask = new Int32Array(part.length * S);
    const labels = new Int32Array(part.length * T).fill(-100);
    part.forEach((p, r) => {
      ids.set(p.inputIds, r * S);
      mask.fill(1, r * S, r * S + p.inputIds.length);
      labels.set(p.labels, r * T);
    });
    const out = await exe.run({ input_ids: i32([part.length, S], ids), attention_mask: i32([part.length, S], mask), labels: i32([part.length, T], labels) }, ['loss']);
    nll += Number(out['loss']!.data[0]);
    tokens += part.reduce((s, p) => s + p.labels.filter((l) => l !== -100).length, 0);
  }
  return { nll, tokens };
};

/** Perplexity of a decoder-only model on a token stream cut into `seqLen` windows. */
export const causalLmPerplexity = async (
  backend: Backend, cfg: CausalLmConfig, params: Readonly<Record<string, HostTensor>>, tokens: readonly number[], opts: { readonly seqLen: number; readonly batch: number },
): Promise<Nll & { readonly windows: number }> => {
  const wins = windows(tokens, opts.seqLen);
  const exe = await compileLossSum(backend, cfg, params);
  try {
    return { ...(await nllOfWindows(exe, wins, opts.batch)), windows: wins.length };
  } finally {
    await exe.dispose();
  }
};

/** Conditional perplexity of an encoder-decoder model on (inputs, labels) pairs. */
export const seq2seqPerplexity = async (
  backend: Backend, cfg: BartConfig, params: Readonly<Record<string, HostTensor>>, pairs: readonly Seq2SeqPair[], opts: { readonly batch: number },
): Promise<Nll> => {
  const exe = await compileLossSum(backend, cfg, params);
  try {
    return await nllOfPairs(exe, cfg, pairs, opts.batch);
  } finally {
    await exe.dispose();
  }
};
