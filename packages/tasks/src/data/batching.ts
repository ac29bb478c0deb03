/**
 * A deterministic, seeded batcher. Given the same items, options, seed and epoch it always
 * yields the same batches; each epoch reshuffles (the epoch is a stream of the seed).
 * With `bucketSize` (a number of batches), items are grouped by length to reduce padding: the
 * shuffled order is cut into pools of `bucketSize · batchSize` items, each pool is sorted by
 * length and cut into batches, and the order of all batches is shuffled again.
 */
import * as t from 'io-ts';
import { makeRng, shuffle } from './rng.ts';

/** Options of the batcher. */
export const BatchOptions = t.intersection([
  t.type({ batchSize: t.number }),
  t.partial({
    /** Shuffle before batching (default true). */
    shuffle: t.boolean,
    /** Seed of the shuffle (default 0). */
    seed: t.number,
    /** Epoch number: a different shuffle per epoch (default 0). */
    epoch: t.number,
    /** Group similar lengths: pools of this many batches are sorted by length (needs `lengthOf`). */
    bucketSize: t.number,
    /** Drop the last batch when it is smaller than `batchSize` (default false). */
    dropLast: t.boolean,
  }),
]);
export type BatchOptions = t.TypeOf<typeof BatchOptions>;

/**
 * The batches of item indices for `n` items. `lengths[i]` is item i's length (only used with
 * `bucketSize`).
 */
export const batchIndices = (n: number, opts: BatchOptions, lengths?: readonly number[]): number[][] => {
  const { batchSize } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (opts.bucketSize !== undefined && (!Number.isInteger(opts.bucketSize) || opts.bucketSize < 1))
    throw new RangeError(`bucketSize must be a positive integer, got ${opts.bucketSize}`);
  if (opts.bucketSize !== undefined && (lengths === undefined || lengths.length !== n))
    throw new RangeError('bucketing needs one length per item');
  const seed = opts.seed ?? 0;
  const epoch = opts.epoch ?? 0;
  const all = Array.from({ length: n }, (_, i) => i);
  const order = opts.shuffle === false ? all : shuffle(all, makeRng(seed, epoch));
  const cut = (xs: readonly number[]): number[][] => {
    const out: number[][] = [];
    for (let i = 0; i < xs.length; i += batchSize) out.push(xs.slice(i, i + batchSize));
    return out;
  };
  let batches: number[][];
  if (opts.bucketSize === undefined || lengths === undefined) batches = cut(order);
  else {
    const pool = opts.bucketSize * batchSize;
    batches = [];
    for (let p = 0; p < order.length; p += pool) {
      const chunk = order.slice(p, p + pool);
      // stable sort by length: ties keep the shuffled order
      const sorted = chunk
        .map((idx, pos) => ({ idx, pos }))
        .sort((a, b) => lengths[a.idx] - lengths[b.idx] || a.pos - b.pos)
        .map((x) => x.idx);
      batches.push(...cut(sorted));
    }
    if (opts.shuffle !== false) batches = shuffle(batches, makeRng(seed, epoch, 1));
  }
  return opts.dropLast === true ? batches.filter((b) => b.length === batchSize) : batches;
};

/** The batches of `items` (see `batchIndices`); `lengthOf` is needed for bucketing. */
export const batches = <A>(items: readonly A[], opts: BatchOptions, lengthOf?: (a: A) => number): A[][] =>
  batchIndices(items.length, opts, lengthOf === undefined ? undefined : items.map(lengthOf)).map((b) =>
    b.map((i) => items[i]),
  );
