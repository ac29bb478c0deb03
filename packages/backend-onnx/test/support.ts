/**
 * Test support: random graph-building contexts (small shapes, dims concrete or symbolic) and
 * the comparison of the ONNX backend with the reference evaluator on the same graph.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { type Graph, type HostTensor, type Node, type DType, hostTensor, evaluate } from '@prefix-tuning/core';
import { input, param, dimEval, parseDim, graphInputs } from '@prefix-tuning/core/graph';
import { onnxBackend, type OnnxBackendOptions } from '../src/index.ts';

export type Tok = number | string;

/** mulberry32 */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** A random case: symbol sizes, leaf values, and helpers to declare leaves. */
export class Ctx {
  readonly env: Record<string, number>;
  readonly rand: () => number;
  readonly feeds: Record<string, HostTensor> = {};
  readonly params: Record<string, HostTensor> = {};
  private n = 0;
  constructor(readonly g: fc.GeneratorValue, readonly symbolic = true) {
    this.env = { A: g(fc.integer, { min: 1, max: 4 }), B: g(fc.integer, { min: 1, max: 4 }), C: g(fc.integer, { min: 1, max: 4 }) };
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
  /** A uniformly random permutation of `0..n-1` (Fisher-Yates). */
  perm(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i);
      [p[i], p[j]] = [p[j]!, p[i]!];
    }
    return p;
  }
  tok(): Tok {
    return this.symbolic && this.bool() ? this.pick(['A', 'B', 'C']) : this.int(1, 4);
  }
  shape(minRank: number, maxRank: number): Tok[] {
    return Array.from({ length: this.int(minRank, maxRank) }, () => this.tok());
  }
  conc(t: Tok): number {
    return typeof t === 'number' ? t : dimEval(parseDim(t)!, this.env);
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.rand();
  }
  private data(dtype: DType, n: number, fill: (i: number) => number): HostTensor['data'] {
    const vals = Array.from({ length: n }, (_, i) => fill(i));
    return dtype === 'float32' ? Float32Array.from(vals) : dtype === 'bool' ? Uint8Array.from(vals, (v) => (v ? 1 : 0))
      : dtype === 'int64' ? BigInt64Array.from(vals, (v) => BigInt(v)) : Int32Array.from(vals);
  }
  /** An input leaf of declared shape `s` fed with `fill` (default U(-1, 1)). */
  input(s: readonly Tok[], dtype: DType = 'float32', fill: (i: number) => number = () => this.uniform(-1, 1)): Node {
    const name = `x${this.n++}`;
    const shape = s.map((t) => this.conc(t));
    this.feeds[name] = hostTensor(dtype, shape, this.data(dtype, shape.reduce((a, b) => a * b, 1), fill));
    return input(name, s, dtype);
  }
  /** A param leaf (concrete shape) bound at compile time. */
  param(s: readonly number[], fill: (i: number) => number = () => this.uniform(-1, 1)): Node {
    const name = `p${this.n++}`;
    this.params[name] = hostTensor('float32', s, this.data('float32', s.reduce((a, b) => a * b, 1), fill) as Float32Array);
    return param(name, s);
  }
  /** Distinct values at least `gap` apart (no ties for max/argMax). */
  distinct(n: number, gap = 0.05): (i: number) => number {
    const vals = Array.from({ length: n }, (_, i) => (i - n / 2) * gap);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.rand() * (i + 1));
      [vals[i], vals[j]] = [vals[j]!, vals[i]!];
    }
    return (i) => vals[i]!;
  }
}

export const withCtx = <A>(f: (c: Ctx) => A, symbolic = true): fc.Arbitrary<{ c: Ctx; out: A }> =>
  fc.gen().map((g) => {
    const c = new Ctx(g, symbolic);
    return { c, out: f(c) };
  });

const num = (v: number | bigint): number => Number(v);

/** |got - want| <= atol + rtol |want| elementwise (NaN equals NaN; integers exactly). */
export const assertClose = (what: string, got: HostTensor, want: HostTensor, rtol = 1e-4, atol = 1e-5): void => {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  assert.equal(got.dtype, want.dtype, `${what}: dtype`);
  const n = got.data.length;
  for (let i = 0; i < n; i++) {
    const a = num(got.data[i]!);
    const b = num(want.data[i]!);
    if (Number.isNaN(a) && Number.isNaN(b)) continue;
    if (got.dtype !== 'float32') assert.equal(a, b, `${what}[${i}]: ${a} vs ${b}`);
    else assert.ok(Math.abs(a - b) <= atol + rtol * Math.abs(b) || a === b, `${what}[${i}]: onnx ${a} vs reference ${b}`);
  }
};

/** Runs `g` on the reference evaluator and on ONNX Runtime and compares every output. */
export const agree = async (
  g: Graph,
  c: Pick<Ctx, 'feeds' | 'params'>,
  opts: OnnxBackendOptions & { rtol?: number; atol?: number } = {},
): Promise<void> => {
  // feed only the inputs the outputs depend on (unknown feeds are errors)
  const used = new Set(graphInputs(g).map((n) => n.attrs.name));
  const feeds = Object.fromEntries(Object.entries(c.feeds).filter(([k]) => used.has(k)));
  const want = evaluate(g, feeds, c.params);
  const ex = await onnxBackend({ intraOpNumThreads: 1, ...opts }).compile(g, { params: c.params });
  try {
    const got = await ex.run(feeds);
    for (const k of Object.keys(g.outputs)) assertClose(k, got[k]!, want[k]!, opts.rtol, opts.atol);
  } finally {
    await ex.dispose();
  }
};
