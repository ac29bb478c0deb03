/**
 * Random graph-building contexts for property tests: small shapes whose dims are either
 * concrete (1..3) or one of the symbols A, B, C (bound to 1..3 per sample), and inputs fed
 * with seeded random float64 values.
 */
import fc from 'fast-check';
import { input, param, dimEval, parseDim } from '../../src/graph.ts';
import { type Node } from '../../src/index.ts';
import type { DType } from '../../src/types/dtype.ts';
import { hostTensor, type HostTensor } from '../../src/backend/tensor.ts';

export type Tok = number | string;
export type Gen = fc.GeneratorValue;

/** mulberry32: a small seeded PRNG, so values need not be drawn one by one by fast-check. */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Ctx {
  readonly env: Record<string, number>;
  readonly rand: () => number;
  readonly feeds: Record<string, HostTensor> = {};
  readonly params: Record<string, HostTensor> = {};
  readonly inputs: Record<string, Node> = {};
  private n = 0;
  constructor(
    readonly g: Gen,
    /** Whether dims may be symbolic. */
    readonly symbolic = true,
  ) {
    this.env = { A: g(fc.integer, { min: 1, max: 3 }), B: g(fc.integer, { min: 1, max: 3 }), C: g(fc.integer, { min: 1, max: 3 }) };
    this.rand = rng(g(fc.integer, { min: 0, max: 2 ** 31 - 1 }));
  }
  int(min: number, max: number): number {
    return this.g(fc.integer, { min, max });
  }
  bool(): boolean {
    return this.g(fc.boolean);
  }
  pick<A>(xs: readonly A[]): A {
    return xs[this.int(0, xs.length - 1)]!;
  }
  /** A dim token: concrete 1..3 or a symbol. */
  tok(): Tok {
    return this.symbolic && this.bool() ? this.pick(['A', 'B', 'C']) : this.int(1, 3);
  }
  shape(minRank: number, maxRank: number): Tok[] {
    const r = this.int(minRank, maxRank);
    return Array.from({ length: r }, () => this.tok());
  }
  conc(t: Tok): number {
    return typeof t === 'number' ? t : dimEval(parseDim(t)!, this.env);
  }
  concShape(s: readonly Tok[]): number[] {
    return s.map((t) => this.conc(t));
  }
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.rand();
  }
  /** A fresh input leaf of declared shape `s`, fed with values from `fill`. */
  input(s: readonly Tok[], dtype: DType = 'float32', fill: (i: number) => number = () => this.uniform(-1, 1)): Node {
    const name = `x${this.n++}`;
    const shape = this.concShape(s);
    const n = shape.reduce((a, b) => a * b, 1);
    const vals = Array.from({ length: n }, (_, i) => fill(i));
    const data =
      dtype === 'float32' ? Float64Array.from(vals) : dtype === 'bool' ? Uint8Array.from(vals, (v) => (v ? 1 : 0)) : Int32Array.from(vals);
    this.feeds[name] = hostTensor(dtype, shape, data);
    const node = input(name, s, dtype);
    this.inputs[name] = node;
    return node;
  }
  /** A fresh param leaf (values in `params`). */
  param(s: readonly Tok[], fill: (i: number) => number = () => this.uniform(-1, 1)): Node {
    const name = `p${this.n++}`;
    const shape = this.concShape(s);
    this.params[name] = hostTensor('float32', shape, Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)));
    const node = param(name, s);
    this.inputs[name] = node;
    return node;
  }
  /** Values from a shuffled grid: distinct, at least `gap` apart (no ties for max/argMax). */
  distinct(n: number, gap = 0.1): (i: number) => number {
    const vals = Array.from({ length: n }, (_, i) => (i - n / 2) * gap);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      [vals[i], vals[j]] = [vals[j]!, vals[i]!];
    }
    return (i) => vals[i]!;
  }
}

/** `fc.gen()` mapped through a case builder that gets a fresh `Ctx`. */
export const withCtx = <A>(f: (c: Ctx) => A, symbolic = true): fc.Arbitrary<A> => fc.gen().map((g) => f(new Ctx(g, symbolic)));

/** The concrete value of a printed symbolic shape under an env. */
export const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
