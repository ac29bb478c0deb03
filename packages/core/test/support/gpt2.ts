/**
 * A GPT-2-style stack of blocks built from core ops only (the test's own, independent of
 * `src/models`): ln_1 -> qkv projection -> split heads -> concat past k/v -> causal attention
 * -> c_proj -> residual -> ln_2 -> MLP with tanh GELU -> residual. Batch `B`, sequence `T`
 * and past length `P` are symbolic; parameter names follow Hugging Face's GPT-2 keys.
 */
import { type Node } from '../../src/index.ts';
import { input, param, withPath, layerNorm, matmul, add, slice, reshape, transpose, concat, attention, gelu } from '../../src/graph.ts';
import { hostTensor, type HostTensor } from '../../src/backend/tensor.ts';
import { rng } from './gen.ts';

export interface Gpt2Config {
  readonly nLayer: number;
  readonly d: number;
  readonly nHead: number;
  /** Prefix for parameter and input names, so that separate tests build separate nodes. */
  readonly tag: string;
}

export interface Gpt2Stack {
  readonly x: Node;
  readonly out: Node;
  /** Per layer: [past key, past value], each [B, H, P, Dh]. */
  readonly past: readonly (readonly [Node, Node])[];
  /** Every weight, by name. */
  readonly weights: Readonly<Record<string, Node>>;
}

export const buildGpt2 = ({ nLayer, d, nHead, tag }: Gpt2Config): Gpt2Stack => {
  const dh = d / nHead;
  const weights: Record<string, Node> = {};
  const w = (name: string, shape: readonly number[]): Node => {
    const full = `${tag}${name}`;
    weights[full] = param(full, shape);
    return weights[full]!;
  };
  const x = input(`${tag}x`, ['B', 'T', d]);
  const past: [Node, Node][] = [];
  let h: Node = x;
  for (let l = 0; l < nLayer; l++) {
    const pk = input(`${tag}past.${l}.key`, ['B', nHead, 'P', dh]);
    const pv = input(`${tag}past.${l}.value`, ['B', nHead, 'P', dh]);
    past.push([pk, pv]);
    const p = `h.${l}.`;
    h = withPath(`h[${l}]`, () => {
      const a1 = withPath('ln_1', () => layerNorm(h, w(`${p}ln_1.weight`, [d]), w(`${p}ln_1.bias`, [d])));
      const qkv = withPath('attn.c_attn', () => add(matmul(a1, w(`${p}attn.c_attn.weight`, [d, 3 * d])), w(`${p}attn.c_attn.bias`, [3 * d]))); // [B,T,3d]
      const heads = (t: Node) => transpose(reshape(t, ['B', 'T', nHead, dh]), [0, 2, 1, 3]); // [B,H,T,dh]
      const [q, k, v] = withPath('attn.split', () => [0, 1, 2].map((i) => heads(slice(qkv, 2, i * d, (i + 1) * d))));
      const kk = withPath('attn.k', () => concat([pk, k!], 2)); // [B,H,P+T,dh]
      const vv = withPath('attn.v', () => concat([pv, v!], 2));
      const att = withPath('attn', () => attention(q!, kk, vv, { causal: true })); // [B,H,T,dh]
      const merged = reshape(transpose(att, [0, 2, 1, 3]), ['B', 'T', d]);
      const proj = withPath('attn.c_proj', () => add(matmul(merged, w(`${p}attn.c_proj.weight`, [d, d])), w(`${p}attn.c_proj.bias`, [d])));
      const x1 = add(h, proj);
      const a2 = withPath('ln_2', () => layerNorm(x1, w(`${p}ln_2.weight`, [d]), w(`${p}ln_2.bias`, [d])));
      const fc = withPath('mlp.c_fc', () => gelu(add(matmul(a2, w(`${p}mlp.c_fc.weight`, [d, 4 * d])), w(`${p}mlp.c_fc.bias`, [4 * d])), 'tanh'));
      const mlp = withPath('mlp.c_proj', () => add(matmul(fc, w(`${p}mlp.c_proj.weight`, [4 * d, d])), w(`${p}mlp.c_proj.bias`, [d])));
      return add(x1, mlp); // [B,T,d]
    });
  }
  return { x, out: h, past, weights };
};

/** Random values for a stack's weights (layer-norm gains near 1) and inputs. */
export const gpt2Values = (s: Gpt2Stack, sizes: { B: number; T: number; P: number }, seed: number) => {
  const r = rng(seed);
  const normal = () => {
    const u = Math.max(r(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  };
  const tensor = (shape: readonly number[], f: () => number): HostTensor =>
    hostTensor('float32', shape, Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, f));
  const params: Record<string, HostTensor> = {};
  for (const [name, n] of Object.entries(s.weights)) {
    const shape = n.shape as number[];
    params[name] = name.includes('ln_') && name.endsWith('weight') ? tensor(shape, () => 1 + 0.1 * normal()) : tensor(shape, () => 0.3 * normal());
  }
  const [d, nHead] = [s.x.shape[2] as number, s.past[0]![0].shape[1] as number];
  const feeds: Record<string, HostTensor> = { [s.x.attrs['name' as never] as string]: tensor([sizes.B, sizes.T, d], normal) };
  for (const [pk, pv] of s.past)
    for (const n of [pk, pv]) feeds[(n.attrs as { name: string }).name] = tensor([sizes.B, nHead, sizes.P, d / nHead], normal);
  return { params, feeds };
};
