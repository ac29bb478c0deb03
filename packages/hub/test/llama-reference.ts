/**
 * A tiny, slow, obviously-written Llama forward pass over Hugging Face-layout weights
 * (rotate_half RoPE, grouped-query attention, RMSNorm, SwiGLU), used only to check converted
 * checkpoints end to end. Also the llama2.c run.c tokenizer algorithm, written out.
 */
import type { Float32Tensor } from '../src/core-io.ts';

export interface LlamaDims {
  readonly dim: number; readonly hidden: number; readonly layers: number; readonly heads: number; readonly kvHeads: number; readonly vocab: number;
  readonly eps: number; readonly theta: number;
}

const matvec = (w: Float32Array, x: Float32Array, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!;
    out[r] = s;
  }
  return out;
};
const rmsnorm = (x: Float32Array, w: Float32Array, eps: number): Float32Array => {
  let ss = 0;
  for (const v of x) ss += v * v;
  const k = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * k * w[i]!);
};
/** HF rotate_half RoPE on each head of a [nHeads·hd] vector, in place. */
export const ropeHalf = (v: Float32Array, nHeads: number, hd: number, pos: number, theta: number): void => {
  const half = hd / 2;
  for (let h = 0; h < nHeads; h++)
    for (let i = 0; i < half; i++) {
      const f = pos / theta ** ((2 * i) / hd);
      const [c, s] = [Math.cos(f), Math.sin(f)];
      const a = v[h * hd + i]!, b = v[h * hd + i + half]!;
      v[h * hd + i] = a * c - b * s;
      v[h * hd + i + half] = b * c + a * s;
    }
};
/** llama2.c's RoPE on interleaved pairs (run.c), in place. */
export const ropeInterleaved = (v: Float32Array, nHeads: number, hd: number, pos: number, theta: number): void => {
  for (let i = 0; i < nHeads * hd; i += 2) {
    const f = pos / theta ** ((i % hd) / hd);
    const [c, s] = [Math.cos(f), Math.sin(f)];
    const a = v[i]!, b = v[i + 1]!;
    v[i] = a * c - b * s;
    v[i + 1] = a * s + b * c;
  }
};

/** Greedy decoding from `prompt` ids with a KV cache; stops at `maxNew` tokens or `stop`. */
export const greedy = (w: ReadonlyMap<string, Float32Tensor>, d: LlamaDims, prompt: readonly number[], maxNew: number, stop: number): number[] => {
  const hd = d.dim / d.heads;
  const kvDim = d.kvHeads * hd;
  const get = (n: string): Float32Array => {
    const t = w.get(n);
    if (!t) throw new Error(`missing ${n}`);
    return t.data;
  };
  const lmHead = w.get('lm_head.weight')?.data ?? get('model.embed_tokens.weight');
  const kc: number[][][] = Array.from({ length: d.layers }, () => []);
  const vc: number[][][] = Array.from({ length: d.layers }, () => []);
  const step = (token: number, pos: number): Float32Array => {
    let x: Float32Array = get('model.embed_tokens.weight').slice(token * d.dim, (token + 1) * d.dim);
    for (let l = 0; l < d.layers; l++) {
      const p = `model.layers.${l}.`;
      const xn = rmsnorm(x, get(`${p}input_layernorm.weight`), d.eps);
      const q = matvec(get(`${p}self_attn.q_proj.weight`), xn, d.dim, d.dim);
      const k = matvec(get(`${p}self_attn.k_proj.weight`), xn, kvDim, d.dim);
      const v = matvec(get(`${p}self_attn.v_proj.weight`), xn, kvDim, d.dim);
      ropeHalf(q, d.heads, hd, pos, d.theta);
      ropeHalf(k, d.kvHeads, hd, pos, d.theta);
      kc[l]!.push(Array.from(k));
      vc[l]!.push(Array.from(v));
      const att = new Float32Array(d.dim);
      for (let h = 0; h < d.heads; h++) {
        const g = Math.floor(h / (d.heads / d.kvHeads));
        const scores = kc[l]!.map((kt) => {
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[h * hd + i]! * kt[g * hd + i]!;
          return s / Math.sqrt(hd);
        });
        const m = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - m));
        const z = e.reduce((a, b) => a + b, 0);
        e.forEach((a, t) => {
          for (let i = 0; i < hd; i++) att[h * hd + i]! += (a / z) * vc[l]![t]![g * hd + i]!;
        });
      }
      const o = matvec(get(`${p}self_attn.o_proj.weight`), att, d.dim, d.dim);
      x = x.map((v2, i) => v2 + o[i]!);
      const xn2 = rmsnorm(x, get(`${p}post_attention_layernorm.weight`), d.eps);
      const gate = matvec(get(`${p}mlp.gate_proj.weight`), xn2, d.hidden, d.dim);
      const up = matvec(get(`${p}mlp.up_proj.weight`), xn2, d.hidden, d.dim);
      const hmid = gate.map((gv, i) => (gv / (1 + Math.exp(-gv))) * up[i]!);
      const down = matvec(get(`${p}mlp.down_proj.weight`), hmid, d.dim, d.hidden);
      x = x.map((v2, i) => v2 + down[i]!);
    }
    return matvec(lmHead, rmsnorm(x, get('model.norm.weight'), d.eps), d.vocab, d.dim);
  };
  const out = [...prompt];
  let logits: Float32Array = new Float32Array();
  prompt.forEach((t, i) => (logits = step(t, i)));
  for (let n = 0; n < maxNew; n++) {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    if (best === stop) break;
    out.push(best);
    logits = step(best, out.length - 1);
  }
  return out;
};

/** llama2.c run.c `encode`, written out: BOS, dummy-prefix " ", code points (byte fallback +3), then best-score merges. */
export const runcEncode = (vocab: readonly string[], scores: readonly number[], text: string, bos: boolean): number[] => {
  const lookup = new Map<string, number>();
  vocab.forEach((v, i) => {
    if (!lookup.has(v)) lookup.set(v, i);
  });
  const tokens: number[] = [];
  if (bos) tokens.push(1);
  if (text !== '') tokens.push(lookup.get(' ')!);
  for (const ch of text) {
    const id = lookup.get(ch);
    if (id !== undefined) tokens.push(id);
    else for (const b of new TextEncoder().encode(ch)) tokens.push(b + 3);
  }
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = lookup.get(vocab[tokens[i]!]! + vocab[tokens[i + 1]!]!);
      if (id !== undefined && scores[id]! > best) { best = scores[id]!; bestId = id; bestIdx = i; }
    }
    if (bestIdx === -1) return tokens;
    tokens.splice(bestIdx, 2, bestId);
  }
};
