/**
 * A small, seeded, splittable PRNG (xoshiro128**), so that parameter initialisation,
 * dropout masks and data shuffling are reproducible across backends and runs. Pure: a
 * generator's state is a value; `next` returns the new state with the sample.
 */

export interface Rng {
  readonly s: readonly [number, number, number, number];
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;

/** Seeds with splitmix32 so that nearby seeds give unrelated streams. */
export const rng = (seed: number): Rng => {
  let z = seed >>> 0;
  const next = (): number => {
    z = (z + 0x9e3779b9) >>> 0;
    let r = z;
    r = Math.imul(r ^ (r >>> 16), 0x85ebca6b) >>> 0;
    r = Math.imul(r ^ (r >>> 13), 0xc2b2ae35) >>> 0;
    return (r ^ (r >>> 16)) >>> 0;
  };
  const s: [number, number, number, number] = [next(), next(), next(), next()];
  if (s.every((x) => x === 0)) s[0] = 1;
  return { s };
};

/** Next 32-bit unsigned integer and the advanced state. */
export const nextU32 = (r: Rng): [number, Rng] => {
  const [s0, s1, s2, s3] = r.s;
  const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
  const t = (s1 << 9) >>> 0;
  let n2 = (s2 ^ s0) >>> 0;
  let n3 = (s3 ^ s1) >>> 0;
  const n1 = (s1 ^ n2) >>> 0;
  const n0 = (s0 ^ n3) >>> 0;
  n2 = (n2 ^ t) >>> 0;
  n3 = rotl(n3, 11);
  return [result, { s: [n0, n1, n2, n3] }];
};

/** A derived, independent generator for a named purpose (e.g. `split(r, 'dropout')`). */
export const split = (r: Rng, label: string | number): Rng => {
  let h = 0x811c9dc5;
  for (const ch of String(label)) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return rng((r.s[0] ^ h ^ Math.imul(r.s[3], 0x2545f491)) >>> 0);
};

/**
 * A mutable sampler over a seeded stream, for filling arrays. Each call consumes the stream
 * deterministically.
 */
export class Sampler {
  private state: Rng;
  constructor(seed: number | Rng) {
    this.state = typeof seed === 'number' ? rng(seed) : seed;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    const [a, s1] = nextU32(this.state);
    const [b, s2] = nextU32(s1);
    this.state = s2;
    return ((a >>> 5) * 67108864 + (b >>> 6)) / 9007199254740992;
  }
  /** Standard normal (Box-Muller; one sample per pair, so the state alone resumes the stream). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
  /** Fisher-Yates shuffle of a copy. */
  shuffle<A>(xs: readonly A[]): A[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
  /** Current state (to checkpoint and resume the stream). */
  get rng(): Rng {
    return this.state;
  }
}
