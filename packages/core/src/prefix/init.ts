/**
 * Initialisation of trainable activations: random (from each `ParamSpec`'s init), or from the
 * activations of real words (the paper's §7.3: "table-to-text:", "summarize"): the frozen
 * model is run on the words, and their key/value activations at every layer become the
 * prefix. With the MLP reparametrisation the MLP is made to output exactly those activations
 * at initialisation: the last linear layer is solved by minimum-norm least squares
 * (W₂ = (A − b₂)ᵀ H (H Hᵀ)⁻¹ with H = tanh(P′W₀ᵀ + b₀)), which is exact when P ≤ hidden.
 */
import type { Backend } from '../backend/backend.ts';
import type { HostTensor } from '../backend/tensor.ts';
import { isEncoderDecoder, type CausalLmConfig, type ModelConfig } from '../models/config.ts';
import { causalLmGraph, causalLmKvGeometry } from '../models/causal.ts';
import { Sampler } from '../random.ts';
import type { ParamSpec } from './params.ts';
import type { ActivationGroup } from './inject.ts';

/** Random values for parameter specs (normal/uniform/zeros; `copy` from `source`). */
export const initialValues = (
  specs: readonly ParamSpec[],
  seed: number,
  source: Readonly<Record<string, HostTensor>> = {},
): Record<string, HostTensor> => {
  const s = new Sampler(seed);
  const out: Record<string, HostTensor> = {};
  for (const p of specs) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const i = p.init;
    let data: Float32Array;
    if (i.kind === 'copy') {
      const t = source[i.from];
      if (!t) throw new Error(`initialValues: '${p.name}' copies '${i.from}', which is not given`);
      data = Float32Array.from(t.data as Float32Array);
    } else if (i.kind === 'zeros') data = new Float32Array(n);
    else if (i.kind === 'normal') data = Float32Array.from({ length: n }, () => s.normal() * i.std);
    else data = Float32Array.from({ length: n }, () => (2 * s.uniform() - 1) * i.bound);
    out[p.name] = { dtype: 'float32', shape: [...p.shape], data };
  }
  return out;
};

/**
 * The key/value activations of `ids` at the given layers, in the prompt layout
 * [P, 2·L·td] (layer j's key then value, heads, head dims), P = ids.length.
 */
export const wordActivations = async (
  backend: Backend,
  cfg: CausalLmConfig,
  frozen: Readonly<Record<string, HostTensor>>,
  ids: readonly number[],
  layers: readonly number[],
): Promise<Float32Array> => {
  const g = causalLmKvGeometry(cfg);
  const exe = await backend.compile(causalLmGraph(cfg, { presents: true }), { params: frozen });
  const P = ids.length;
  const out = await exe.run({ input_ids: { dtype: 'int32', shape: [1, P], data: Int32Array.from(ids) } });
  await exe.dispose();
  const td = g.heads * g.headDim;
  const W = 2 * layers.length * td;
  const prompt = new Float32Array(P * W);
  layers.forEach((l, j) => {
    (['key', 'value'] as const).forEach((kind, kv) => {
      const t = out[`present.${l}.${kind}`]!.data as Float32Array; // [1, H, P, Dh]
      for (let h = 0; h < g.heads; h++)
        for (let p = 0; p < P; p++)
          for (let d = 0; d < g.headDim; d++) prompt[p * W + ((2 * j + kv) * g.heads + h) * g.headDim + d] = t[(h * P + p) * g.headDim + d]!;
    });
  });
  return prompt;
};

/** Solves A X = B for square A (n×n) and B (n×m), row-major, by Gauss-Jordan with partial pivoting. */
const solve = (A: Float64Array, B: Float64Array, n: number, m: number): Float64Array => {
  const a = Float64Array.from(A);
  const b = Float64Array.from(B);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[piv * n + c]!)) piv = r;
    if (Math.abs(a[piv * n + c]!) < 1e-12) throw new Error('word initialisation: the MLP hidden activations are rank-deficient (use more hidden units than words)');
    if (piv !== c) {
      for (let k = 0; k < n; k++) [a[c * n + k], a[piv * n + k]] = [a[piv * n + k]!, a[c * n + k]!];
      for (let k = 0; k < m; k++) [b[c * m + k], b[piv * m + k]] = [b[piv * m + k]!, b[c * m + k]!];
    }
    const d = a[c * n + c]!;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r * n + c]! / d;
      if (f === 0) continue;
      for (let k = 0; k < n; k++) a[r * n + k] = a[r * n + k]! - f * a[c * n + k]!;
      for (let k = 0; k < m; k++) b[r * m + k] = b[r * m + k]! - f * b[c * m + k]!;
    }
  }
  for (let r = 0; r < n; r++) for (let k = 0; k < m; k++) b[r * m + k] = b[r * m + k]! / a[r * n + r]!;
  return b;
};

/**
 * Parameters of `group` that make its activations equal `target` [P, W]: the embedding
 * itself (direct), or the MLP's last layer solved so that MLP(P′) = target (mlp; the other
 * MLP parameters keep their values in `current`).
 */
export const fitToActivations = (
  group: ActivationGroup,
  current: Readonly<Record<string, HostTensor>>,
  target: Float32Array,
): Record<string, HostTensor> => {
  const { scope, length: P, width: W } = group;
  if (target.length !== P * W) throw new Error(`word initialisation: ${target.length / W} word positions for a prefix of length ${P}`);
  if (group.reparam.kind === 'direct') return { [`${scope}.embedding.weight`]: { dtype: 'float32', shape: [P, W], data: Float32Array.from(target) } };
  const h = group.reparam.hidden;
  const D = group.inDim;
  const e = current[`${scope}.embedding.weight`]!.data as Float32Array;
  const w0 = current[`${scope}.transform.0.weight`]!.data as Float32Array;
  const b0 = current[`${scope}.transform.0.bias`]!.data as Float32Array;
  const b2 = current[`${scope}.transform.2.bias`]!.data as Float32Array;
  // H = tanh(E W0ᵀ + b0)  [P, h]
  const H = new Float64Array(P * h);
  for (let p = 0; p < P; p++)
    for (let j = 0; j < h; j++) {
      let s = b0[j]!;
      for (let d = 0; d < D; d++) s += e[p * D + d]! * w0[j * D + d]!;
      H[p * h + j] = Math.tanh(s);
    }
  // G = H Hᵀ [P, P];  Y = G⁻¹ (A − b2) [P, W];  W2 = (Hᵀ Y)ᵀ = Yᵀ H  [W, h]
  const G = new Float64Array(P * P);
  for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) {
    let s = 0;
    for (let j = 0; j < h; j++) s += H[a * h + j]! * H[b * h + j]!;
    G[a * P + b] = s;
  }
  const R = new Float64Array(P * W);
  for (let p = 0; p < P; p++) for (let w = 0; w < W; w++) R[p * W + w] = target[p * W + w]! - b2[w]!;
  const Y = solve(G, R, P, W);
  const w2 = new Float32Array(W * h);
  for (let w = 0; w < W; w++) for (let j = 0; j < h; j++) {
    let s = 0;
    for (let p = 0; p < P; p++) s += Y[p * W + w]! * H[p * h + j]!;
    w2[w * h + j] = s;
  }
  return { [`${scope}.transform.2.weight`]: { dtype: 'float32', shape: [W, h], data: w2 } };
};

/**
 * Initial values of every trainable parameter of an injection: random by spec, then, for
 * each decoder-only key/value group with `initText` ids, fitted to the words' activations.
 * `wordIds(text)` tokenises (without special tokens); the group's length must equal the
 * number of word tokens (the words *are* the prefix). Encoder-decoder models take random
 * values only (a group with `initText` is refused).
 */
export const initialiseInjection = async (args: {
  readonly backend: Backend;
  readonly cfg: ModelConfig;
  readonly frozen: Readonly<Record<string, HostTensor>>;
  readonly groups: readonly ActivationGroup[];
  readonly trainable: readonly ParamSpec[];
  readonly seed: number;
  readonly wordIds: (text: string) => readonly number[];
}): Promise<Record<string, HostTensor>> => {
  const values = initialValues(args.trainable, args.seed, args.frozen);
  for (const g of args.groups) {
    if (g.initText === undefined) continue;
    const cfg = args.cfg;
    if (isEncoderDecoder(cfg)) throw new Error('initialisation from words (--init-text, the low-data recipe) is implemented for decoder-only models');
    if (g.kind === 'embedding' || g.site !== 'self' || !g.layers || g.shared)
      throw new Error(`initialisation from words applies to per-layer key/value prefixes and infixes (group '${g.scope}')`);
    const ids = args.wordIds(g.initText);
    if (ids.length !== g.length)
      throw new Error(`'${g.initText}' is ${ids.length} tokens but the ${g.kind} has length ${g.length}: set the length to ${ids.length}`);
    const target = await wordActivations(args.backend, cfg, args.frozen, ids, g.layers);
    Object.assign(values, fitToActivations(g, values, target));
  }
  return values;
};
