/**
 * A decoder's KV cache kept in capacity buffers on the host, and the one-token step graph that
 * reads it in place.
 *
 * Layer l's keys (and values) live in one buffer [R, Hkv, C, Dh] whose first `length`
 * positions of each row hold the cache and whose last C - length positions are free; the bool
 * key mask [R, C + 1] marks the cached positions a row attends to (padding and free positions
 * are false) and ends with true for the step's own token. The step graph takes the whole
 * buffers (fed as they are: no copy), attends over them and the step's own key/value, and
 * returns only the new token's keys and values, which the host writes into the next free
 * position. So a step costs O(R·Hkv·Dh) host work per layer instead of copying the cache
 * through the runtime, and the buffers are reallocated only when they fill up (by a quarter
 * more, at least 16 positions). The buffers have the presents' storage (Float64Array from the
 * reference evaluator at f64 precision).
 *
 * Free positions are masked: they add exactly 0 to the attention, which therefore equals
 * attention over the cache alone (what `present` = concat(past, new) computes), up to the
 * order of floating-point sums where a backend reorders them.
 */
import type { HostTensor } from '../backend/tensor.ts';
import type { CausalLmConfig } from '../models/config.ts';
import { causalLmForward, causalLmKvGeometry } from '../models/causal.ts';
import { lastLearnedPosition } from '../models/family.ts';
import { lastPosition } from '../models/common.ts';
import { type Graph, graph } from '../ir/graph.ts';
import type { Node } from '../ir/node.ts';
import { input, scalar } from '../ops/leaves.ts';
import { slice, concat } from '../ops/layout.ts';
import { add, minimum } from '../ops/binary.ts';
import { argMax, reduceMax } from '../ops/reduce.ts';
import { logSoftmax } from '../nn/softmax.ts';
import { type Dim, dimAdd, sym } from '../types/dim.ts';

/**
 * The one-token forward over a per-layer cache: `input_ids`, `position_ids` [B, 1] and, per layer
 * l, `past_key_values.{l}.key|value` [B, Hkv, len(l), Dh] with the key mask `attention_mask.{l}`
 * [B, len(l)+1] of `maskDtype` (the last column is the new token itself).
 */
export const cachedStepForward = (cfg: CausalLmConfig, len: (l: number) => Dim, maskDtype: 'bool' | 'int32') => {
  const c = cacheInputs(cfg, len, maskDtype);
  return causalLmForward(cfg, { ids: c.ids, positionIds: c.positionIds, pastKeyValues: (l) => c.layers[l]!, attentionMask: (l) => c.layers[l]!.mask });
};

/** The inputs of a cached step (see `cachedStepForward`). */
const cacheInputs = (cfg: CausalLmConfig, len: (l: number) => Dim, maskDtype: 'bool' | 'int32') => {
  const g = causalLmKvGeometry(cfg);
  const B = sym('B');
  return {
    ids: input('input_ids', [B, 1], 'int32'),
    positionIds: input('position_ids', [B, 1], 'int32'),
    layers: Array.from({ length: g.layers }, (_, l) => ({
      key: input(`past_key_values.${l}.key`, [B, g.heads, len(l), g.headDim]),
      value: input(`past_key_values.${l}.value`, [B, g.heads, len(l), g.headDim]),
      mask: input(`attention_mask.${l}`, [B, dimAdd(len(l), 1)], maskDtype),
    })),
  };
};

/**
 * The one-token step over capacity buffers: `input_ids` [B, 1], `position_ids` [B, 1],
 * per layer l `past_key_values.{l}.key|value` [B, Hkv, C{l}, Dh] and `attention_mask.{l}`
 * [B, C{l}+1] bool (true = attend; the last column is the new token itself) -> `logits` [B, V] and
 * `new_key_values.{l}.key|value` [B, Hkv, 1, Dh], the new token's entries.
 *
 * The new entries are the last position of `present` = concat(past, own): a backend that
 * sees that nothing else needs the concatenation (ONNX) never builds it.
 */
export const appendStepGraph = (cfg: CausalLmConfig): Graph => {
  const cap = (l: number) => sym(`C${l}`);
  const out = cachedStepForward(cfg, cap, 'bool');
  const last = (x: Node, l: number): Node => slice(x, 2, cap(l), dimAdd(cap(l), 1)); // [B, Hkv, 1, Dh]
  const news: Record<string, Node> = {};
  out.presents.forEach((kv, l) => {
    news[`new_key_values.${l}.key`] = last(kv.key, l);
    news[`new_key_values.${l}.value`] = last(kv.value, l);
  });
  return graph({ logits: lastPosition(out.logits), ...news });
};

/**
 * `n` greedy steps in one graph over the same capacity buffers as `appendStepGraph` (same
 * inputs): step 0 reads `input_ids`; step j > 0 reads the argmax of step j-1's logits, at the
 * next position, and attends over the cache and the entries of steps 0..j-1. Outputs: `tokens`
 * [B, n-1] (int32, the argmax of steps 0..n-2, which steps 1..n-1 read), `token_logprobs` [B, n-1]
 * (their log-probabilities), `logits` [B, V] of the last step (for the token after), and
 * `new_key_values.{l}.key|value` [B, Hkv, n, Dh], the entries of the n tokens read. With the
 * cache kept on the host between runs, a backend that runs on a device (onnxruntime-node on
 * CUDA) moves it there once per n tokens instead of once per token.
 */
export const greedyStepsGraph = (cfg: CausalLmConfig, n: number): Graph => {
  if (!Number.isInteger(n) || n < 1) throw new Error(`greedyStepsGraph: n must be a positive integer, got ${n}`);
  const cap = (l: number) => sym(`C${l}`);
  const inputs = cacheInputs(cfg, cap, 'bool');
  // per layer: the cache, the entries of the steps so far, and the key mask of the next step
  // (the mask's last column, the step's own token, is true: repeated, it also covers the
  // earlier steps' tokens)
  const layers = inputs.layers.map((c, l) => ({ key: c.key as Node, value: c.value as Node, mask: c.mask as Node, own: slice(c.mask, 1, cap(l), dimAdd(cap(l), 1)), keys: [] as Node[], values: [] as Node[] }));
  let ids: Node = inputs.ids;
  let pos: Node = inputs.positionIds;
  const tokens: Node[] = [];
  const logprobs: Node[] = [];
  let logits: Node | undefined;
  for (let j = 0; j < n; j++) {
    const out = causalLmForward(cfg, {
      ids, positionIds: pos,
      pastKeyValues: (l) => ({ key: concat([layers[l]!.key, ...layers[l]!.keys], 2), value: concat([layers[l]!.value, ...layers[l]!.values], 2) }),
      attentionMask: (l) => layers[l]!.mask,
    });
    out.presents.forEach((kv, l) => {
      const c = layers[l]!;
      const at = dimAdd(cap(l), j);
      c.keys.push(slice(kv.key, 2, at, dimAdd(at, 1)));
      c.values.push(slice(kv.value, 2, at, dimAdd(at, 1)));
      c.mask = concat([c.mask, c.own], 1);
    });
    logits = lastPosition(out.logits); // [B, V]
    if (j === n - 1) break;
    const next = argMax(logits, 1, true); // [B, 1], the first maximum on ties (as greedy search)
    tokens.push(next);
    logprobs.push(reduceMax(logSoftmax(logits, 1), 1, true)); // the chosen token's log-probability
    ids = next;
    pos = add(pos, scalar(1, 'int32'));
    // a row that finished earlier runs on past its limit (its tokens are dropped): keep its
    // positions inside the learned table
    const last = lastLearnedPosition(cfg);
    if (last !== undefined) pos = minimum(pos, scalar(last, 'int32'));
  }
  const outputs: Record<string, Node> = { logits: logits! };
  if (n > 1) Object.assign(outputs, { tokens: concat(tokens, 1), token_logprobs: concat(logprobs, 1) });
  layers.forEach((c, l) => {
    outputs[`new_key_values.${l}.key`] = concat(c.keys, 2);
    outputs[`new_key_values.${l}.value`] = concat(c.values, 2);
  });
  return graph(outputs);
};

type Floats = Float32Array | Float64Array;

/** One layer's cache: `length` positions in buffers of `capacity`. */
interface LayerCache {
  length: number;
  capacity: number;
  keys: Floats; // [R, H, capacity, D]
  values: Floats;
  mask: Uint8Array; // [R, capacity + 1]
  /** Buffers of the same size that a reorder writes into (then swapped), made on the first one. */
  spare?: { keys: Floats; values: Floats; mask: Uint8Array };
}

const grown = (need: number): number => need + Math.max(16, Math.ceil(need / 4));

/** Copies `count` blocks of n elements from src (block i at i·srcStride) to dst (at dstOffset + i·dstStride). */
const copyBlocks = (dst: Floats, dstOffset: number, dstStride: number, src: Floats, srcStride: number, n: number, count: number): void => {
  if (n > 256) {
    for (let i = 0; i < count; i++) dst.set(src.subarray(i * srcStride, i * srcStride + n) as ArrayLike<number>, dstOffset + i * dstStride);
    return;
  }
  // short blocks (one step's head vectors): a plain loop beats creating subarray views
  for (let i = 0; i < count; i++) {
    const d = dstOffset + i * dstStride;
    const s = i * srcStride;
    for (let j = 0; j < n; j++) dst[d + j] = src[s + j]!;
  }
};

/**
 * The KV cache of R rows for `appendStepGraph`: built from a prefill's `present.{l}.*` and the
 * key mask of each layer's cached positions, fed to each step, appended to from its
 * `new_key_values.{l}.*`, and reordered between rows for beam search.
 */
export class KvCache {
  private readonly layers: LayerCache[];
  /** New buffers of the presents' storage. */
  private readonly floats: (n: number) => Floats;

  /**
   * `presents[l]`: layer l's keys and values [R, Hkv, T{l}, Dh]; `masks[l]`: [R, T{l}] (non-zero
   * = attend). `reserve`: free positions to allocate now (more are added when they run out).
   */
  constructor(
    readonly rows: number,
    private readonly heads: number,
    private readonly headDim: number,
    presents: readonly { readonly key: HostTensor; readonly value: HostTensor }[],
    masks: readonly ArrayLike<number>[],
    reserve = 16,
  ) {
    if (!Number.isInteger(reserve) || reserve < 0) throw new Error(`KvCache: reserve must be a non-negative integer, got ${reserve}`);
    this.floats = presents[0]?.key.data instanceof Float64Array ? (n) => new Float64Array(n) : (n) => new Float32Array(n);
    this.layers = presents.map((kv, l) => {
      const [R, H, T, D] = kv.key.shape;
      if (R !== rows || H !== heads || D !== headDim || kv.value.shape.join() !== kv.key.shape.join())
        throw new Error(`KvCache: layer ${l} keys [${kv.key.shape}] / values [${kv.value.shape}] are not [${rows},${heads},T,${headDim}]`);
      if (masks[l]!.length !== rows * T!) throw new Error(`KvCache: layer ${l} mask has ${masks[l]!.length} entries, expected ${rows}×${T}`);
      const layer: LayerCache = { length: 0, capacity: 0, keys: this.floats(0), values: this.floats(0), mask: new Uint8Array(0) };
      this.resize(layer, T! + Math.max(1, reserve));
      this.write(layer, kv.key.data as Floats, kv.value.data as Floats, masks[l]!, T!);
      return layer;
    });
  }

  /** Cached positions of each layer. */
  get lengths(): readonly number[] {
    return this.layers.map((c) => c.length);
  }

  /** The step's cache feeds: each layer's buffers and key mask, over the cache's own memory. */
  feeds(): Record<string, HostTensor> {
    const f: Record<string, HostTensor> = {};
    const [R, H, D] = [this.rows, this.heads, this.headDim];
    this.layers.forEach((c, l) => {
      f[`past_key_values.${l}.key`] = { dtype: 'float32', shape: [R, H, c.capacity, D], data: c.keys };
      f[`past_key_values.${l}.value`] = { dtype: 'float32', shape: [R, H, c.capacity, D], data: c.values };
      f[`attention_mask.${l}`] = { dtype: 'bool', shape: [R, c.capacity + 1], data: c.mask };
    });
    return f;
  }

  /** Appends `new_key_values.{l}.key|value` [R, Hkv, n, Dh] (a step's, n = 1, or `greedyStepsGraph`'s) as every row's next n positions. */
  append(out: Readonly<Record<string, HostTensor>>): void {
    this.layers.forEach((c, l) => {
      const k = out[`new_key_values.${l}.key`];
      const v = out[`new_key_values.${l}.value`];
      if (k === undefined || v === undefined) throw new Error(`KvCache.append: missing new_key_values.${l}.key|value`);
      const n = k.shape[2] ?? 1;
      if (c.length + n > c.capacity) this.resize(c, grown(c.length + n));
      this.write(c, k.data as Floats, v.data as Floats, undefined, n);
    });
  }

  /** Row i takes the cache of row parents[i] (beam search). */
  reorder(parents: Int32Array): void {
    if (parents.length !== this.rows || parents.some((p) => p < 0 || p >= this.rows)) throw new Error(`KvCache.reorder: expected ${this.rows} parents in [0, ${this.rows}), got [${parents.join(',')}]`);
    if (parents.every((p, i) => p === i)) return;
    const [H, D] = [this.heads, this.headDim];
    for (const c of this.layers) {
      const to = c.spare ?? { keys: this.floats(c.keys.length), values: this.floats(c.values.length), mask: new Uint8Array(c.mask.length) };
      // only the cached positions move: a buffer's free positions are masked (lengths only grow,
      // so no position past the length was ever marked in either buffer)
      const per = H * c.capacity * D;
      parents.forEach((p, i) => {
        copyBlocks(to.keys, i * per, c.capacity * D, c.keys.subarray(p * per), c.capacity * D, c.length * D, H);
        copyBlocks(to.values, i * per, c.capacity * D, c.values.subarray(p * per), c.capacity * D, c.length * D, H);
        const [from, at] = [p * (c.capacity + 1), i * (c.capacity + 1)];
        to.mask.set(c.mask.subarray(from, from + c.length), at);
        to.mask[at + c.capacity] = 1; // the step's own token
      });
      c.spare = { keys: c.keys, values: c.values, mask: c.mask };
      c.keys = to.keys;
      c.values = to.values;
      c.mask = to.mask;
    }
  }

  /** Moves a layer to buffers of `capacity` positions (the cache and its mask kept, the new token's column set). */
  private resize(c: LayerCache, capacity: number): void {
    const [R, H, D] = [this.rows, this.heads, this.headDim];
    const keys = this.floats(R * H * capacity * D);
    const values = this.floats(R * H * capacity * D);
    const mask = new Uint8Array(R * (capacity + 1));
    copyBlocks(keys, 0, capacity * D, c.keys, c.capacity * D, c.length * D, R * H);
    copyBlocks(values, 0, capacity * D, c.values, c.capacity * D, c.length * D, R * H);
    for (let r = 0; r < R; r++) {
      mask.set(c.mask.subarray(r * (c.capacity + 1), r * (c.capacity + 1) + c.length), r * (capacity + 1));
      mask[r * (capacity + 1) + capacity] = 1;
    }
    c.capacity = capacity;
    c.keys = keys;
    c.values = values;
    c.mask = mask;
    c.spare = undefined;
  }

  /** Writes T positions [R, H, T, D] after the cached ones, with their mask [R, T] (all 1 when absent). */
  private write(c: LayerCache, keys: Floats, values: Floats, mask: ArrayLike<number> | undefined, T: number): void {
    const [R, H, D] = [this.rows, this.heads, this.headDim];
    const n = T * D;
    if (keys.length !== R * H * n || values.length !== R * H * n) throw new Error(`KvCache: expected ${R * H * n} new entries per tensor, got ${keys.length} and ${values.length}`);
    copyBlocks(c.keys, c.length * D, c.capacity * D, keys, n, n, R * H);
    copyBlocks(c.values, c.length * D, c.capacity * D, values, n, n, R * H);
    for (let r = 0; r < R; r++) {
      const at = r * (c.capacity + 1) + c.length;
      if (mask === undefined) c.mask.fill(1, at, at + T);
      else for (let t = 0; t < T; t++) c.mask[at + t] = mask[r * T + t] !== 0 ? 1 : 0;
    }
    c.length += T;
  }
}
