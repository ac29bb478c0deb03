/**
 * The benchmark model: GPT-2 small's architecture (124M parameters: 12 layers, d=768, 12 heads,
 * vocabulary 50257, 1024 positions) with seeded random weights built from the config (no
 * checkpoint), and the analytic FLOP counts the benchmarks report.
 *
 * FLOPs count multiply-adds as 2 and only matrix products (elementwise work, softmax and norms
 * are not counted). Per token of a sequence attending to Tk keys (prefix + past + itself, all
 * Tk computed, masked or not), with L layers, width d, vocabulary V:
 *   forward          24·L·d²  (QKV 3d², out-proj d², MLP 8d²)  + 2·d·V (LM head)  + 4·L·d·Tk (QKᵀ, PV)
 *   backward to the prefix (frozen weights: activation gradients only, no weight gradients)
 *                    24·(L-1)·d² + 18·d² + 2·d·V + 8·(L-1)·d·Tk + 6·d·Tk
 *                    (layer 0 needs no dX through QKV and no dQ: its queries and own keys do not
 *                    depend on any prefix)
 *   prefix MLP       P·(td·h + h·W)·2 forward, ·4 backward (weight and input gradients),
 *                    td = d, W = 2·L·d, computed once per step (not per row)
 */
import { decodeModelConfig, modelParamShapes, type Gpt2Config, type HostTensor, f32 } from '../packages/core/src/index.ts';

export const gpt2Small = (): Gpt2Config => {
  const c = decodeModelConfig({ model_type: 'gpt2', vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, activation_function: 'gelu_new' });
  if (c._tag === 'Left') throw new Error(c.left);
  return c.right as Gpt2Config;
};

/** mulberry32 */
const rng = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** N(0, std) values (Box-Muller), seeded. */
export const normal = (n: number, std: number, seed: number): Float32Array => {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.sqrt(-2 * Math.log(1 - r()));
    const t = 2 * Math.PI * r();
    out[i] = std * u * Math.cos(t);
    if (i + 1 < n) out[i + 1] = std * u * Math.sin(t);
  }
  return out;
};

/** GPT-2's initialisation: weights N(0, 0.02), biases 0, layer-norm gains 1. */
export const randomGpt2Params = (cfg: Gpt2Config, seed = 1): Record<string, HostTensor> => {
  const out: Record<string, HostTensor> = {};
  let k = seed;
  for (const [name, shape] of Object.entries(modelParamShapes(cfg))) {
    const n = shape.reduce((a, b) => a * b, 1);
    const isLn = /(^|\.)ln_/.test(name);
    const data = isLn ? (name.endsWith('weight') ? new Float32Array(n).fill(1) : new Float32Array(n))
      : name.endsWith('bias') ? new Float32Array(n) : normal(n, 0.02, k++);
    out[name] = f32(shape, data);
  }
  return out;
};

/** Forward FLOPs of `tokens` query tokens each attending to `tk` keys. */
export const forwardFlops = (cfg: Gpt2Config, tokens: number, tk: number): number => {
  const [L, d, V] = [cfg.n_layer, cfg.n_embd, cfg.vocab_size];
  return tokens * (24 * L * d * d + 2 * d * V + 4 * L * d * tk);
};

/** Backward FLOPs to a per-layer prefix (activation gradients only). */
export const prefixBackwardFlops = (cfg: Gpt2Config, tokens: number, tk: number): number => {
  const [L, d, V] = [cfg.n_layer, cfg.n_embd, cfg.vocab_size];
  return tokens * (24 * (L - 1) * d * d + 18 * d * d + 2 * d * V + 8 * (L - 1) * d * tk + 6 * d * tk);
};

/** Forward + backward FLOPs of the prefix MLP reparametrisation. */
export const prefixMlpFlops = (cfg: Gpt2Config, P: number, hidden: number): number => {
  const d = cfg.n_embd;
  const W = 2 * cfg.n_layer * d;
  return 6 * P * (d * hidden + hidden * W);
};

/** What a benchmark measured (the shape bench/run.ts records). */
export interface Measured {
  readonly tokens_per_s: number;
  readonly step_ms: number;
  readonly flops_per_step: number;
  /** Extra facts (batch shape, steps timed, compile time...). */
  readonly details: Record<string, number | string>;
}

/** The median of timed repetitions. */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
