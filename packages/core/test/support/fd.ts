/**
 * Gradient checks against central finite differences, in float64 through the reference
 * evaluator: for a node `out` and a random cotangent R, L = sum(out * R); the gradient of L
 * w.r.t. each leaf from `grad` must match (L(x + h e_i) - L(x - h e_i)) / 2h.
 */
import { grad, input, mul, reduceSum } from '../../src/graph.ts';
import { graph, type Node, evaluate } from '../../src/index.ts';
import { hostTensor, type HostTensor } from '../../src/backend/tensor.ts';
import { rng } from './gen.ts';

export interface FdOptions {
  readonly h?: number;
  readonly atol?: number;
  readonly rtol?: number;
  /** At most this many coordinates per leaf are checked (chosen at random). */
  readonly maxCoords?: number;
  readonly seed?: number;
  readonly dims?: Readonly<Record<string, number>>;
}

const perturbed = (t: HostTensor, i: number, delta: number): HostTensor => {
  const d = Float64Array.from(t.data as Float64Array);
  d[i] += delta;
  return hostTensor(t.dtype, t.shape, d);
};

/**
 * Checks d sum(out * R) / d leaf for each named leaf (inputs in `feeds`, params in `params`).
 * Returns a description of the first mismatch, or undefined.
 */
export const fdCheck = (
  out: Node,
  leaves: Readonly<Record<string, Node>>,
  feeds: Readonly<Record<string, HostTensor>>,
  params: Readonly<Record<string, HostTensor>>,
  names: readonly string[],
  opts: FdOptions = {},
): string | undefined => {
  const h = opts.h ?? 1e-5;
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-5;
  const rand = rng(opts.seed ?? 1234);
  const dims = opts.dims ?? {};
  // the concrete shape of `out`, then a random cotangent for it
  const outShape = evaluate(graph({ out }), feeds, params, { precision: 'f64', dims }).out!.shape;
  const R = input('__ct', out.shape, 'float32');
  const ctFeed = hostTensor('float32', outShape, Float64Array.from({ length: outShape.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1));
  const L = reduceSum(mul(out, R));
  const wrt = names.map((n) => leaves[n]!);
  const gs = grad(L, wrt);
  const allFeeds = { ...feeds, __ct: ctFeed };
  const res = evaluate(graph(Object.fromEntries(gs.map((g, i) => [names[i]!, g]))), allFeeds, params, { precision: 'f64', dims });
  const lossGraph = graph({ L });
  const lossAt = (f: Readonly<Record<string, HostTensor>>, p: Readonly<Record<string, HostTensor>>): number =>
    evaluate(lossGraph, f, p, { precision: 'f64', dims }).L!.data[0] as number;
  for (const name of names) {
    const isParam = params[name] !== undefined;
    const t = isParam ? params[name]! : feeds[name]!;
    const analytic = res[name]!;
    if (analytic.shape.join() !== t.shape.join()) return `${name}: gradient shape [${analytic.shape}] vs value shape [${t.shape}]`;
    const n = t.data.length;
    const coords = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [coords[i], coords[j]] = [coords[j]!, coords[i]!];
    }
    for (const i of coords.slice(0, opts.maxCoords ?? 12)) {
      const at = (delta: number) =>
        isParam ? lossAt(allFeeds, { ...params, [name]: perturbed(t, i, delta) }) : lossAt({ ...allFeeds, [name]: perturbed(t, i, delta) }, params);
      const fd = (at(h) - at(-h)) / (2 * h);
      const a = analytic.data[i] as number;
      if (!(Math.abs(a - fd) <= atol + rtol * Math.max(Math.abs(a), Math.abs(fd))))
        return `${name}[${i}] (shape [${t.shape}]): grad ${a} vs finite difference ${fd}`;
    }
  }
  return undefined;
};
