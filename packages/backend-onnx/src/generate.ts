/**
 * KV-cache decoding over compiled prefill and step graphs: a `DecodeSession` (core's decoding
 * algorithms choose tokens; this session runs the model).
 *
 * The cache never leaves the runtime's memory: each step's `present.*` outputs are fed back
 * as the next step's `past_key_values.*` (onnxruntime-node hands outputs back as buffers it
 * owns, and wraps input buffers without copying). Beam reordering happens inside the graph:
 * `reorderStepGraph` gathers the past along the batch axis by a `beam_idx` input before the
 * step, so parents are applied without a host copy; plain steps (greedy, sampling) use the
 * ordinary step graph and skip the gather.
 *
 * Only the `Executable` contract is needed, so the session runs on any backend. On a backend
 * whose executables can write outputs into caller buffers (`runInto`, as this one's can), the
 * cache lives in two recycled buffers per layer (read one, write the other, grown by doubling)
 * instead of fresh allocations at every step.
 */
import {
  type CausalLmConfig, type DecodeSession, type Executable, type Graph, type HostTensor,
  graph, input, gather, sym, dimAdd, causalLmForward, causalLmKvGeometry, lastPosition, presentOutputs, hostTensor,
} from '@prefix-tuning/core';

/**
 * One cached step with beam reordering: `input_ids` [B, 1], `beam_idx` [B] int32 (row i
 * continues past row beam_idx[i]), `past_key_values.{i}.key|value` [B, Hkv, Tpast, Dh], and
 * optionally `attention_mask` [B, Tpast+1] (already reordered, 1 = attend) and `position_ids`
 * [B, 1] -> `logits` [B, V], `present.{i}.key|value` [B, Hkv, Tpast+1, Dh].
 */
export const reorderStepGraph = (cfg: CausalLmConfig, opts: { attentionMask?: boolean; positionIds?: boolean } = {}): Graph => {
  const g = causalLmKvGeometry(cfg);
  const B = sym('B');
  const Tpast = sym('Tpast');
  const beam = input('beam_idx', [B], 'int32');
  const past = (i: number) => ({
    key: gather(input(`past_key_values.${i}.key`, [B, g.heads, Tpast, g.headDim]), beam, 0),
    value: gather(input(`past_key_values.${i}.value`, [B, g.heads, Tpast, g.headDim]), beam, 0),
  });
  const out = causalLmForward(cfg, {
    ids: input('input_ids', [B, 1], 'int32'),
    pastKeyValues: past,
    ...(opts.attentionMask ? { attentionMask: input('attention_mask', [B, dimAdd(Tpast, 1)], 'int32') } : {}),
    ...(opts.positionIds ? { positionIds: input('position_ids', [B, 1], 'int32') } : {}),
  });
  return graph({ logits: lastPosition(out.logits), ...presentOutputs(out.presents) });
};

export interface KvSessionOptions {
  /** The compiled prefill graph: `logits` [B, V] and `present.*` outputs. */
  readonly prefill: Executable;
  readonly prefillFeeds: Readonly<Record<string, HostTensor>>;
  /** The compiled step graph (core `stepGraph`), used when no row changes parent. */
  readonly step: Executable;
  /** The compiled `reorderStepGraph`, used when rows change parents (beam search). */
  readonly reorderStep?: Executable;
  readonly vocabSize: number;
  /**
   * Key mask over the whole cache after the prefill, [B, Tcache] (1 = attend), when the step
   * graphs take `attention_mask` (left-padded prompts); extended by one 1 per step.
   */
  readonly cacheMask?: HostTensor;
  /** Next position id of each row, when the step graphs take `position_ids`. */
  readonly nextPositions?: Int32Array;
}

const pastFromPresent = (out: Readonly<Record<string, HostTensor>>): Record<string, HostTensor> => {
  const past: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(out)) if (k.startsWith('present.')) past[`past_key_values.${k.slice('present.'.length)}`] = v;
  return past;
};

type RunInto = (feeds: Readonly<Record<string, HostTensor>>, into: Readonly<Record<string, HostTensor>>) => Promise<Record<string, HostTensor>>;

const runIntoOf = (e: Executable): RunInto | undefined => {
  const f = (e as { runInto?: RunInto }).runInto;
  return typeof f === 'function' ? f.bind(e) : undefined;
};

/** Two buffers per cache tensor, used in turn, grown by doubling. */
class CachePool {
  private readonly bufs = new Map<string, { cap: number; data: [Float32Array, Float32Array]; next: 0 | 1 }>();

  /** A tensor of `shape` over the buffer of `name` that the current past does not occupy. */
  take(name: string, shape: readonly number[]): HostTensor {
    const need = shape.reduce((a, b) => a * b, 1);
    let b = this.bufs.get(name);
    if (b === undefined || b.cap < need) {
      const cap = Math.max(need * 2, 1024);
      b = { cap, data: [new Float32Array(cap), new Float32Array(cap)], next: 0 };
      this.bufs.set(name, b);
    }
    const t = hostTensor('float32', shape, b.data[b.next].subarray(0, need));
    b.next = b.next === 0 ? 1 : 0;
    return t;
  }
}

/** Runs the prefill and returns a session positioned after the prompts. */
export const kvCacheSession = async (o: KvSessionOptions): Promise<DecodeSession & { readonly rows: number }> => {
  let out = await o.prefill.run(o.prefillFeeds);
  const rows = out['logits']!.shape[0]!;
  let mask = o.cacheMask ? Int32Array.from(o.cacheMask.data as Int32Array) : undefined;
  let maskLen = o.cacheMask?.shape[1] ?? 0;
  let positions = o.nextPositions ? Int32Array.from(o.nextPositions) : undefined;
  const identity = (p: Int32Array): boolean => p.every((v, i) => v === i);
  const pool = new CachePool();
  return {
    rows,
    vocabSize: o.vocabSize,
    logits: async () => out['logits']!.data as Float32Array,
    advance: async (parents: Int32Array, tokens: Int32Array) => {
      if (parents.length !== rows || tokens.length !== rows) throw new Error(`advance: expected ${rows} parents and tokens, got ${parents.length} and ${tokens.length}`);
      const reorder = !identity(parents);
      if (reorder && o.reorderStep === undefined) throw new Error('advance: beams changed parents but no reorderStep executable was given');
      const feeds: Record<string, HostTensor> = { input_ids: hostTensor('int32', [rows, 1], Int32Array.from(tokens)), ...pastFromPresent(out) };
      if (reorder) feeds['beam_idx'] = hostTensor('int32', [rows], Int32Array.from(parents));
      if (mask !== undefined) {
        const next = new Int32Array(rows * (maskLen + 1));
        for (let r = 0; r < rows; r++) {
          next.set(mask.subarray(parents[r]! * maskLen, (parents[r]! + 1) * maskLen), r * (maskLen + 1));
          next[r * (maskLen + 1) + maskLen] = 1;
        }
        mask = next;
        maskLen += 1;
        feeds['attention_mask'] = hostTensor('int32', [rows, maskLen], mask);
      }
      if (positions !== undefined) {
        const p = positions;
        positions = Int32Array.from({ length: rows }, (_, r) => p[parents[r]!]! + 1);
        feeds['position_ids'] = hostTensor('int32', [rows, 1], Int32Array.from({ length: rows }, (_, r) => p[parents[r]!]!));
      }
      const exe = reorder ? o.reorderStep! : o.step;
      const runInto = runIntoOf(exe);
      if (runInto === undefined) {
        out = await exe.run(feeds);
        return;
      }
      // present.* = past.* grown by one position, written into the buffers the past is not in
      const into: Record<string, HostTensor> = {};
      for (const [k, v] of Object.entries(out))
        if (k.startsWith('present.')) into[k] = pool.take(k, [rows, v.shape[1]!, v.shape[2]! + 1, ...v.shape.slice(3)]);
      out = await runInto(feeds, into);
    },
  };
};

