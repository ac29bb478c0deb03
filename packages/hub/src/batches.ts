/**
 * Training batches of (source, target) pairs for an injected model (token examples -> fixed
 * padded batches; the trainer re-orders them every epoch), the feeds a variant adds per batch
 * (dropout masks), and what a run records about its model, variant and data (digests, counts).
 */
import { createHash } from 'node:crypto';
import { hasInfix, isEncoderDecoder, type Batch, type HostTensor, type Injection, type ModelConfig, type Sampler } from '@prefix-tuning/core';
import {
  IGNORE_INDEX, batches, buildDecoderExample, buildSeq2SeqExample, collateDecoder, collateSeq2Seq, type Pair, type TokenizerLike,
} from '@prefix-tuning/tasks';

/** A digest of a model's config and weights (sampled windows of every tensor: cheap, and different for another model). */
export const modelDigest = (cfg: ModelConfig, params: Readonly<Record<string, HostTensor>>): string => {
  const h = createHash('sha256');
  h.update(JSON.stringify(cfg));
  for (const name of Object.keys(params).sort()) {
    const t = params[name]!;
    const b = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    h.update(`${name}[${t.shape.join(',')}]`);
    const w = 4096;
    for (const at of [0, Math.max(0, Math.floor(b.length / 2) - w / 2), Math.max(0, b.length - w)]) h.update(b.subarray(at, at + w));
  }
  return h.digest('hex');
};

export const describeVariant = (inj: Injection): string => {
  if (inj.parts.every((p) => p.part.shape === 'weights')) return `fine-tuning (${inj.trainable.length} weight tensors)`;
  return [
    ...inj.groups.map((g) => `${g.kind} ${g.length}${g.site && g.site !== 'self' ? ` at ${g.site}` : ''} (${g.reparam.kind === 'mlp' ? `MLP ${g.reparam.hidden}` : 'direct'}${g.initText !== undefined ? `, init ${JSON.stringify(g.initText)}` : ''})`),
    ...inj.custom.map((c) => `${c.name} (${Object.keys(c.kind.params).join(', ')})`),
  ].join(' + ');
};

export const paramCount = (inj: Injection): number => inj.trainable.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);

/** Dropout masks for the groups with dropout (values 0 or 1/(1-p)), or all ones (dev evaluation). */
export const dropoutFeeds = (inj: Injection, rows: number, rng?: Sampler): Record<string, HostTensor> => {
  const out: Record<string, HostTensor> = {};
  if (!inj.dropoutInputs) return out;
  for (const g of inj.groups) {
    if (g.dropout <= 0) continue;
    const n = rows * g.length * g.width;
    const keep = 1 / (1 - g.dropout);
    const data = new Float32Array(n);
    if (rng) for (let i = 0; i < n; i++) data[i] = rng.uniform() < g.dropout ? 0 : keep;
    else data.fill(1);
    out[`${g.scope}.dropout_mask`] = { dtype: 'float32', shape: [rows, g.length, g.width], data };
  }
  return out;
};

export const rowsOf = (b: Batch): number => (b.feeds['input_ids'] ?? Object.values(b.feeds)[0]!).shape[0]!;

const i32 = (rows: readonly (readonly number[])[], width?: number): HostTensor => {
  const B = rows.length;
  const T = width ?? (rows[0]?.length ?? 0);
  const data = new Int32Array(B * T);
  rows.forEach((r, b) => data.set(r, b * T));
  return { dtype: 'int32', shape: [B, T], data };
};

const countTokens = (labels: readonly (readonly number[])[]): number =>
  labels.reduce((s, r) => s + r.filter((x) => x !== IGNORE_INDEX).length, 0);

/** Options of `makeBatches`. */
export interface BatchingOptions {
  readonly batchSize: number;
  /** Decoder-only: whole sequence (infix: half for the source, half for the target); encoder-decoder: source and target each. */
  readonly maxLength: number;
  readonly prependSpace: boolean;
  readonly seed: number;
  readonly shuffle: boolean;
}

/**
 * Feeds of the injected training graph for `pairs`, in fixed batches; also counts truncated
 * examples, examples whose target was cut away entirely (decoder-only: `maxLength` leaves no
 * target token of a non-empty target) and pairs whose source and target are both empty, so that
 * the caller can refuse to train on nothing (the indices of the first of each are kept).
 */
export const makeBatches = (
  cfg: ModelConfig,
  inj: Injection,
  tok: TokenizerLike,
  pairs: readonly Pair[],
  o: BatchingOptions,
): { batches: Batch[]; truncated: number; maxId: number; emptyTargets: number[]; emptyPairs: number[] } => {
  let truncated = 0;
  let maxId = -1;
  const emptyPairs = pairs.flatMap((p, i) => (p.source.trim() === '' && p.target.trim() === '' ? [i] : []));
  const emptyTargets: number[] = [];
  const seen = (ids: readonly number[]) => {
    for (const i of ids) if (i > maxId) maxId = i;
  };
  const groups = batches(pairs.map((_, i) => i), { batchSize: o.batchSize, shuffle: o.shuffle, seed: o.seed });
  if (isEncoderDecoder(cfg)) {
    const build = buildSeq2SeqExample(tok, { maxSourceLength: o.maxLength, maxTargetLength: o.maxLength, prependSpace: o.prependSpace });
    const out = groups.map((g) => {
      const exs = g.map((i) => build(pairs[i]!));
      exs.forEach((e) => { truncated += e.truncated ? 1 : 0; seen(e.inputIds); seen(e.labels); });
      const b = collateSeq2Seq(exs, tok.padId);
      return { feeds: { input_ids: i32(b.inputIds), attention_mask: i32(b.attentionMask), labels: i32(b.labels) }, tokens: countTokens(b.labels) };
    });
    return { batches: out, truncated, maxId, emptyTargets, emptyPairs };
  }
  const infix = hasInfix(inj);
  // infix batches pad sources and targets separately, so each side gets half the length
  const half = Math.floor(o.maxLength / 2);
  const build = buildDecoderExample(tok, infix
    ? { maxSourceLength: half, maxTargetLength: Math.max(1, o.maxLength - half - 2), prependSpace: o.prependSpace }
    : { maxLength: o.maxLength, prependSpace: o.prependSpace });
  const out = groups.map((g): Batch => {
    const exs = g.map((i) => {
      const e = build(pairs[i]!);
      // labels = source (ignored), separator (ignored), target, EOS: no target token left
      if (e.labels.length - e.sourceLength - 2 === 0 && pairs[i]!.target.trim() !== '') emptyTargets.push(i);
      return e;
    });
    exs.forEach((e) => { truncated += e.truncated ? 1 : 0; seen(e.inputIds); });
    if (!infix) {
      const b = collateDecoder(exs, tok.padId);
      return { feeds: { input_ids: i32(b.inputIds), attention_mask: i32(b.attentionMask), labels: i32(b.labels) }, tokens: countTokens(b.labels) };
    }
    // [x; INFIX; y]: the source goes in separately; the target part starts with the separator,
    // whose logits predict the first target token
    const src = exs.map((e) => e.inputIds.slice(0, e.sourceLength));
    const S = Math.max(1, ...src.map((s) => s.length));
    const tgt = collateDecoder(exs.map((e) => ({ inputIds: e.inputIds.slice(e.sourceLength), labels: e.labels.slice(e.sourceLength) })), tok.padId);
    return {
      feeds: {
        source_ids: i32(src.map((s) => [...s, ...Array<number>(S - s.length).fill(tok.padId)]), S),
        source_mask: i32(src.map((s) => [...Array<number>(s.length).fill(1), ...Array<number>(S - s.length).fill(0)]), S),
        input_ids: i32(tgt.inputIds), attention_mask: i32(tgt.attentionMask), labels: i32(tgt.labels),
      },
      tokens: countTokens(tgt.labels),
    };
  });
  return { batches: out, truncated, maxId, emptyTargets: emptyTargets.sort((a, b) => a - b), emptyPairs };
};

/** A digest of batches (their order and every id): a checkpoint records the data it was trained on. */
export const batchesDigest = (bs: readonly Batch[]): string => {
  const h = createHash('sha256');
  for (const b of bs)
    for (const k of Object.keys(b.feeds).sort()) {
      const t = b.feeds[k]!;
      h.update(`${k}[${t.shape.join(',')}]`);
      h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    }
  return h.digest('hex');
};
