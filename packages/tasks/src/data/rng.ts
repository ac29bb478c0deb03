/**
 * A small seeded pseudo-random generator (sfc32, seeded through murmur3's finaliser) so that
 * shuffles, samples and splits are reproducible from an integer seed, on every platform.
 * (It cannot reproduce numpy's streams: the official scripts' exact samples are not recoverable.)
 */

/** A generator of uniform numbers in [0, 1). */
export type Rng = () => number;

const fmix32 = (x: number): number => {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
};

/**
 * A generator determined by `seed` and optional `stream` numbers (e.g. the epoch), so that
 * independent uses of one seed do not share a sequence.
 */
export const makeRng = (seed: number, ...stream: readonly number[]): Rng => {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  let h = fmix32(0x9e3779b9 ^ (seed >>> 0)) ^ fmix32(Math.floor(seed / 4294967296) >>> 0);
  for (const s of stream) h = fmix32(h ^ fmix32((s >>> 0) + 0x632be5ab));
  let a = fmix32(h + 1);
  let b = fmix32(h + 2);
  let c = fmix32(h + 3);
  let d = fmix32(h + 4);
  const next = (): number => {
    const t0 = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t0) | 0;
    return (t0 >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i += 1) next();
  return next;
};

/** A uniform integer in [0, n). */
export const randomInt = (rng: Rng, n: number): number => Math.floor(rng() * n);

/** A shuffled copy of `xs` (Fisher–Yates). */
export const shuffle = <A>(xs: readonly A[], rng: Rng): A[] => {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = randomInt(rng, i + 1);
    const tmp = out[i];
    out[i] = out[j];
    out[j] = tmp;
  }
  return out;
};

/** `k` distinct indices of [0, n), in sampling order (partial Fisher–Yates). */
export const sampleIndices = (n: number, k: number, rng: Rng): number[] => {
  if (!Number.isInteger(k) || k < 0 || k > n) throw new RangeError(`cannot sample ${k} of ${n} without replacement`);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i += 1) {
    const j = i + randomInt(rng, n - i);
    const tmp = idx[i];
    idx[i] = idx[j];
    idx[j] = tmp;
  }
  return idx.slice(0, k);
};
