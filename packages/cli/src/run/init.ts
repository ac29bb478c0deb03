/**
 * Initial values of trainable parameters: the `InitSpec`s of the injection (seeded), and
 * initialisation from real words (the paper's §7.2 / official `train_control.py`): the prefix
 * starts as the key/value activations the frozen model computes for those words (embedding
 * prefixes: the words' embeddings). With the MLP reparametrisation the MLP is fitted to those
 * activations first, as the official code does (500 Adam steps at lr 1e-4 on the squared error;
 * only the MLP moves, the input embedding keeps its random start).
 */
import {
  Sampler, computedActivations, input, mul, prefillGraph, reduceMean, sub, train,
  type ActivationGroup, type Backend, type CausalLmConfig, type HostTensor, type Injection, type ParamSpec,
} from '@prefix-tuning/core';
import { UsageError } from '../cli.ts';

/** Seeded values for every spec (in spec order, one stream), `copy` specs from the model's weights. */
export const initialValues = (specs: readonly ParamSpec[], model: Readonly<Record<string, HostTensor>>, seed: number): Record<string, HostTensor> => {
  const s = new Sampler((seed * 2654435761 + 97) >>> 0);
  const out: Record<string, HostTensor> = {};
  for (const p of specs) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    switch (p.init.kind) {
      case 'normal': { const std = p.init.std; data = Float32Array.from({ length: n }, () => s.normal() * std); break; }
      case 'uniform': { const b = p.init.bound; data = Float32Array.from({ length: n }, () => (2 * s.uniform() - 1) * b); break; }
      case 'zeros': data = new Float32Array(n); break;
      case 'copy': {
        const src = model[p.init.from];
        if (!src) throw new Error(`init: no model weight '${p.init.from}' to copy into '${p.name}'`);
        data = Float32Array.from(src.data as Float32Array);
        break;
      }
    }
    out[p.name] = { dtype: 'float32', shape: [...p.shape], data };
  }
  return out;
};

/** The token-embedding table of a decoder-only model. */
const embeddingTable = (cfg: CausalLmConfig, model: Readonly<Record<string, HostTensor>>): HostTensor => {
  const name = cfg.model_type === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight';
  const w = model[name] ?? Object.entries(model).find(([k]) => k.endsWith(`.${name}`))?.[1];
  if (!w) throw new Error(`init: the model has no '${name}'`);
  return w;
};

/** `ids` repeated (or cut) to exactly `n` tokens. */
export const tileIds = (ids: readonly number[], n: number): number[] => Array.from({ length: n }, (_, i) => ids[i % ids.length]!);

/** The activations real words give a group: [P, width] in the group's (PEFT) layout. */
const wordTargets = async (backend: Backend, cfg: CausalLmConfig, model: Readonly<Record<string, HostTensor>>, g: ActivationGroup, ids: readonly number[]): Promise<Float32Array> => {
  const P = g.length;
  const target = new Float32Array(P * g.width);
  if (g.kind === 'embedding') {
    const E = embeddingTable(cfg, model);
    const D = E.shape[1]!;
    ids.forEach((id, p) => target.set((E.data as Float32Array).subarray(id * D, (id + 1) * D), p * D));
    return target;
  }
  if (g.site !== 'self') throw new UsageError(`initialisation from words is implemented for decoder self-attention prefixes, not the '${g.site}' site`);
  const exe = await backend.compile(prefillGraph(cfg), { params: model });
  try {
    const out = await exe.run({ input_ids: { dtype: 'int32', shape: [1, P], data: Int32Array.from(ids) } });
    const geo = g.geometry!;
    const H = geo.kvHeads, Dh = geo.headDim, td = H * Dh;
    const layers = g.shared ? [g.layers![0]!] : g.layers!;
    layers.forEach((l, j) => {
      for (const [kv, which] of [[0, 'key'], [1, 'value']] as const) {
        const x = out[`present.${l}.${which}`]!.data as Float32Array; // [1, H, P, Dh]
        for (let h = 0; h < H; h++)
          for (let p = 0; p < P; p++)
            for (let d = 0; d < Dh; d++) target[p * g.width + (2 * j + kv) * td + h * Dh + d] = x[(h * P + p) * Dh + d]!;
      }
    });
  } finally {
    await exe.dispose();
  }
  return target;
};

/**
 * Replaces the initial values of groups initialised from words. `encode` gives the words'
 * token ids (repeated or cut to the group's length).
 */
export const wordsInit = async (args: {
  readonly backend: Backend;
  readonly cfg: CausalLmConfig;
  readonly model: Readonly<Record<string, HostTensor>>;
  readonly inj: Injection;
  readonly init: Readonly<Record<string, HostTensor>>;
  readonly encode: (text: string) => readonly number[];
  readonly seed: number;
  readonly fitSteps?: number;
}): Promise<Record<string, HostTensor>> => {
  const out: Record<string, HostTensor> = { ...args.init };
  for (const g of args.inj.groups) {
    if (g.initText === undefined || g.length === 0) continue;
    const words = args.encode(g.initText);
    if (words.length === 0) throw new UsageError(`the initialisation text ${JSON.stringify(g.initText)} has no tokens`);
    const target = await wordTargets(args.backend, args.cfg, args.model, g, tileIds(words, g.length));
    const emb = `${g.scope}.embedding.weight`;
    if (g.reparam.kind === 'custom') throw new UsageError(`initialisation from words is not defined for the custom parametrisation '${g.reparam.name}'`);
    if (g.reparam.kind === 'direct') {
      out[emb] = { dtype: 'float32', shape: [g.length, g.width], data: target };
      continue;
    }
    // fit the MLP: minimise mean((MLP(E) - target)^2) over the transform weights
    const acts = computedActivations(g.scope, g.length, g.width, g.inDim, g.reparam);
    const d = sub(acts, input('init_target', [g.length, g.width]));
    const loss = reduceMean(mul(d, d));
    const names = [`${g.scope}.transform.0.weight`, `${g.scope}.transform.0.bias`, `${g.scope}.transform.2.weight`, `${g.scope}.transform.2.bias`];
    const r = await train({
      backend: args.backend, loss,
      trainable: names.map((name) => ({ name, decay: false })),
      init: Object.fromEntries(names.map((n) => [n, out[n]!])),
      frozen: { [emb]: out[emb]! },
      trainBatches: [{ feeds: { init_target: { dtype: 'float32', shape: [g.length, g.width], data: target } }, tokens: 0 }],
      config: {
        epochs: args.fitSteps ?? 500, seed: args.seed,
        schedule: { lr: 1e-4, warmupSteps: 0, decay: 'constant' },
        optimizer: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
      },
    });
    Object.assign(out, r.params);
  }
  return out;
};
