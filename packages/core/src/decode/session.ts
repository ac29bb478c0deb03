/**
 * A `DecodeSession` for decoder-only models on any backend: a prefill graph (with the
 * variant's activations at the first positions of the KV cache) and the one-token step graph,
 * compiled once; the KV cache lives on the host between steps, in capacity buffers that the
 * step reads in place and appends the new token's keys and values to (`KvCache`), and is
 * reordered for beams.
 * Prompts of different lengths are left-padded (positions follow the attention mask, as
 * transformers' generate does), and each row may carry its own prefix from a bank.
 */
import type { Backend, Executable } from '../backend/backend.ts';
import type { HostTensor } from '../backend/tensor.ts';
import type { CausalLmConfig } from '../models/config.ts';
import { prefillGraph, causalLmKvGeometry } from '../models/causal.ts';
import { lastLearnedPosition } from '../models/family.ts';
import type { CausalPlan } from './plan.ts';
import type { DecodeSession } from './search.ts';
import { appendStepGraph, greedyStepsGraph, KvCache } from './cache.ts';

/** Options of `CausalDecoder.start`. */
export interface StartOptions {
  /** Rows per prompt (beam search). */
  readonly beams?: number;
  /** A prefix bank: one user id per prompt. */
  readonly userIds?: readonly number[];
  /** Filler id of padded positions (masked out). */
  readonly padId?: number;
  /**
   * An infix variant: one source per prompt, read before the infix; the prompts are then the
   * target starts (the separator, whose logits predict the first target token).
   */
  readonly sources?: readonly (readonly number[])[];
  /**
   * Cache positions to allocate now for generated tokens (default 16; when they run out the
   * cache grows by a quarter, which copies it): pass the number of tokens to generate.
   */
  readonly reserve?: number;
}

export interface CausalDecoder {
  /** Starts a session for `prompts`, each repeated `beams` times (rows b·beams … b·beams+beams-1). */
  start(prompts: readonly (readonly number[])[], opts?: StartOptions): Promise<DecodeSession>;
  dispose(): Promise<void>;
}

const i32 = (shape: number[], data: ArrayLike<number>): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });

/**
 * Compiles the prefill and step graphs of `cfg` with `params` (model weights, and the
 * variant's parameters when `plan` is given: see prefix/'s `causalDecoder`, which makes the plan
 * from an injection).
 */
export const causalSession = async (backend: Backend, cfg: CausalLmConfig, params: Readonly<Record<string, HostTensor>>, plan?: CausalPlan): Promise<CausalDecoder> => {
  const pre: Executable = await backend.compile(plan ? plan.prefill : prefillGraph(cfg, { attentionMask: true, positionIds: true }), { params });
  const step: Executable = await backend.compile(appendStepGraph(cfg), { params, repeated: true });
  // greedyStepsGraph executables by tokens per run, compiled when first asked for
  const greedy = new Map<number, Promise<Executable>>();
  const greedyFor = (n: number): Promise<Executable> => {
    let e = greedy.get(n);
    if (e === undefined) greedy.set(n, (e = backend.compile(greedyStepsGraph(cfg, n), { params, repeated: true })));
    return e;
  };
  const geo = causalLmKvGeometry(cfg);
  const L = geo.layers;
  const virtual = plan?.virtual ?? 0;
  const I = plan?.infix ?? 0;
  const infix = I > 0;
  const infixAt = plan?.infixAt ?? new Map<number, number>();
  const users = plan?.users ?? 0;
  const V = cfg.vocab_size;
  // rows stop at their own limits while the batch goes on: a finished row's filler steps may pass
  // the learned positions' end, so its (discarded) positions stay at the last row of the table
  const lastLearned = lastLearnedPosition(cfg) ?? Number.MAX_SAFE_INTEGER;
  const posFeed = (p: Int32Array): HostTensor => i32([p.length, 1], p.map((x) => Math.min(x, lastLearned)));
  return {
    async start(prompts, opts = {}) {
      const K = opts.beams ?? 1;
      const R = prompts.length * K;
      if (users > 0 && opts.userIds?.length !== prompts.length) throw new Error('a prefix bank needs one user id per prompt');
      if (infix && opts.sources?.length !== prompts.length) throw new Error('an infix variant needs one source per prompt (start(targets, { sources }))');
      if (!infix && opts.sources !== undefined) throw new Error('sources are for infix variants; put the source in the prompt');
      // infix: sources right-padded (as in training); each row's target follows its own source
      const srcs = opts.sources ?? [];
      const S = infix ? Math.max(1, ...srcs.map((s) => s.length)) : 0;
      const srcIds = new Int32Array(R * S).fill(opts.padId ?? 0);
      const srcMask = new Int32Array(R * S);
      srcs.forEach((src, b) => {
        for (let k = 0; k < K; k++) {
          srcIds.set(src, (b * K + k) * S);
          srcMask.fill(1, (b * K + k) * S, (b * K + k) * S + src.length);
        }
      });
      const start = (b: number): number => virtual + (infix ? srcs[b]!.length + I : 0);
      const T0 = Math.max(1, ...prompts.map((p) => p.length));
      const ids = new Int32Array(R * T0).fill(opts.padId ?? 0);
      const mask = new Int32Array(R * T0);
      const pos = new Int32Array(R * T0).fill(1);
      const lastPos = new Int32Array(R);
      prompts.forEach((p, b) => {
        for (let k = 0; k < K; k++) {
          const r = b * K + k;
          const off = T0 - p.length;
          p.forEach((t, j) => {
            ids[r * T0 + off + j] = t;
            mask[r * T0 + off + j] = 1;
            pos[r * T0 + off + j] = start(b) + j;
          });
          lastPos[r] = start(b) + p.length - 1;
        }
      });
      const feeds: Record<string, HostTensor> = { input_ids: i32([R, T0], ids), attention_mask: i32([R, T0], mask), position_ids: i32([R, T0], pos) };
      if (infix) Object.assign(feeds, { source_ids: i32([R, S], srcIds), source_mask: i32([R, S], srcMask) });
      if (users > 0) feeds['user_ids'] = i32([R], opts.userIds!.flatMap((u) => Array<number>(K).fill(u)));
      const out = await pre.run(feeds);
      let logits = out['logits']!.data as Float32Array;
      // per-layer cache masks: [prefix; virtual embeddings] always visible, then (infix) the
      // source's own mask and the infix, then the prompt's own mask
      const presents = Array.from({ length: L }, (_, l) => ({ key: out[`present.${l}.key`]!, value: out[`present.${l}.value`]! }));
      const masks = presents.map(({ key }, l) => {
        const n = key.shape[2]!;
        const m = new Int32Array(R * n);
        const il = infixAt.get(l) ?? 0;
        const front = n - T0 - (infix ? S + il : 0);
        for (let r = 0; r < R; r++) {
          m.fill(1, r * n, r * n + front);
          if (infix) {
            m.set(srcMask.subarray(r * S, (r + 1) * S), r * n + front);
            m.fill(1, r * n + front + S, r * n + front + S + il);
          }
          m.set(mask.subarray(r * T0, (r + 1) * T0), r * n + n - T0);
        }
        return m;
      });
      const cache = new KvCache(R, geo.heads, geo.headDim, presents, masks, opts.reserve);
      return {
        vocabSize: V,
        logits: async () => logits,
        async advance(parents, tokens) {
          if (parents.length !== R || tokens.length !== R) throw new Error(`advance: expected ${R} parents and tokens, got ${parents.length} and ${tokens.length}`);
          if (!parents.every((p, i) => p === i)) {
            cache.reorder(parents);
            lastPos.set(Int32Array.from(parents, (p) => lastPos[p]!));
          }
          for (let r = 0; r < R; r++) lastPos[r] = lastPos[r]! + 1;
          const o = await step.run({ input_ids: i32([R, 1], tokens), position_ids: posFeed(lastPos), ...cache.feeds() });
          logits = o['logits']!.data as Float32Array;
          cache.append(o);
        },
        async advanceGreedy(tokens, n) {
          if (!Number.isInteger(n) || n < 2) throw new Error(`advanceGreedy: n must be an integer >= 2, got ${n}`);
          if (tokens.length !== R) throw new Error(`advanceGreedy: expected ${R} tokens, got ${tokens.length}`);
          const exe = await greedyFor(n);
          // the graph reads `tokens` at the next position and advances from there
          const o = await exe.run({ input_ids: i32([R, 1], tokens), position_ids: posFeed(lastPos.map((p) => p + 1)), ...cache.feeds() });
          for (let r = 0; r < R; r++) lastPos[r] = lastPos[r]! + n;
          logits = o['logits']!.data as Float32Array;
          cache.append(o);
          return { tokens: o['tokens']!.data as Int32Array, logprobs: Float32Array.from(o['token_logprobs']!.data as ArrayLike<number>) };
        },
      };
    },
    async dispose() {
      await pre.dispose();
      await step.dispose();
      for (const e of greedy.values()) await (await e).dispose();
    },
  };
};
