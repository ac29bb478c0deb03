/**
 * Continuous batching for decoder-only models: one decode loop whose batch rows join and leave
 * between steps. Every row carries its own prefix (a slot of a prefix bank, or none: the base
 * model) and its own decoding settings (greedy or sampling, temperature, top-k/p, seed, limits);
 * rows of different banks and settings share each step.
 *
 * A step (`ContinuousDecoder.step`): the waiting rows are prefilled (grouped by bank, left-padded
 * as `causalDecoder` does) and their caches copied into the batch; every row then chooses its
 * next token (`chooseToken`, as `greedyOrSample` does), rows that end (EOS, the token limit, the
 * consumer's stop, cancellation) leave, and one `appendStepGraph` run over the rest gives the next
 * logits. The step graph has no adapter parameters, so one executable serves every bank.
 *
 * The batch's cache (`RowKvCache`) keeps per-row lengths in shared capacity buffers
 * [rows, Hkv, C, Dh] per layer: a row's positions are its own prefill's followed by its tokens,
 * free positions are masked out (they add exactly 0 to the attention), rows are kept dense (a
 * leaving row is replaced by the last one) and the step is fed views of the first `rows` rows.
 *
 * Banks: the stored activations of one variant geometry for `users` slots, held by the bank's
 * prefill executable as read-only state (`writeState` when a slot changes): a prefix is computed
 * once per adapter, never per request. `session` gives a plain `DecodeSession` over the same
 * executables, for beam search (which runs as its own search, outside the shared batch).
 */
import type { Backend, Executable } from '../backend/backend.ts';
import type { HostTensor } from '../backend/tensor.ts';
import type { CausalLmConfig } from '../models/config.ts';
import { prefillGraph, causalLmKvGeometry } from '../models/causal.ts';
import type { CausalPlan } from './plan.ts';
import { Sampler } from '../random.ts';
import { appendStepGraph } from './cache.ts';
import { chooseToken, type DecodeSession, type GenerateOptions } from './search.ts';

type Floats = Float32Array | Float64Array;

const i32 = (shape: number[], data: ArrayLike<number>): HostTensor => ({ dtype: 'int32', shape, data: Int32Array.from(data) });

/** One layer of a `RowKvCache`. */
interface Layer {
  capacity: number;
  keys: Floats; // [rowCapacity, H, capacity, D]
  values: Floats;
  mask: Uint8Array; // [rowCapacity, capacity + 1]
  lengths: number[]; // per row
}

/**
 * A KV cache whose rows have their own lengths and come and go: `add` copies a prefilled row in,
 * `remove` drops one (the last row moves into its place), `append` writes each row's new token
 * at its own next position, `reorder` makes row i continue row parents[i] (beam search).
 */
export class RowKvCache {
  private layers: Layer[] = [];
  private rowCapacity = 0;
  rows = 0;
  private floats: (n: number) => Floats = (n) => new Float32Array(n);

  constructor(private readonly nLayers: number, private readonly heads: number, private readonly headDim: number) {}

  private alloc(rowCapacity: number, capacities: readonly number[]): void {
    const [H, D] = [this.heads, this.headDim];
    const old = this.layers;
    this.layers = capacities.map((C, l) => {
      const layer: Layer = { capacity: C, keys: this.floats(rowCapacity * H * C * D), values: this.floats(rowCapacity * H * C * D), mask: new Uint8Array(rowCapacity * (C + 1)), lengths: [] };
      const o = old[l];
      for (let r = 0; r < this.rows; r++) {
        layer.mask[r * (C + 1) + C] = 1;
        if (!o) continue;
        const n = o.lengths[r]!;
        for (let h = 0; h < H; h++) {
          const src = (r * H + h) * o.capacity * D;
          const dst = (r * H + h) * C * D;
          layer.keys.set(o.keys.subarray(src, src + n * D), dst);
          layer.values.set(o.values.subarray(src, src + n * D), dst);
        }
        layer.mask.set(o.mask.subarray(r * (o.capacity + 1), r * (o.capacity + 1) + n), r * (C + 1));
        layer.lengths.push(n);
      }
      return layer;
    });
    this.rowCapacity = rowCapacity;
  }

  /** Makes room for `rows` rows and per-layer lengths `need` (+1 for the next token). */
  private ensure(rows: number, need: readonly number[]): void {
    const caps = this.layers.length === 0 ? need.map((n) => n + 16) : this.layers.map((c, l) => (need[l]! + 1 > c.capacity ? need[l]! + Math.max(16, Math.ceil(need[l]! / 4)) : c.capacity));
    const rowCap = rows > this.rowCapacity ? Math.max(rows, Math.ceil(this.rowCapacity * 1.5), 4) : this.rowCapacity;
    if (rowCap !== this.rowCapacity || caps.some((c, l) => c !== this.layers[l]?.capacity)) this.alloc(rowCap, caps);
  }

  /**
   * Adds row `b` of a prefill's `present.{l}.key|value` [B, Hkv, T{l}, Dh] with its key mask
   * (`mask(l)`: T{l} entries, non-zero = attend); returns the new row's index.
   */
  add(presents: readonly { readonly key: HostTensor; readonly value: HostTensor }[], b: number, mask: (l: number) => ArrayLike<number>): number {
    if (presents.length !== this.nLayers) throw new Error(`RowKvCache.add: expected ${this.nLayers} layers, got ${presents.length}`);
    if (this.layers.length === 0 && presents[0]!.key.data instanceof Float64Array) this.floats = (n) => new Float64Array(n);
    const T = presents.map((p) => p.key.shape[2]!);
    this.ensure(this.rows + 1, this.layers.length === 0 ? T : this.layers.map((c, l) => Math.max(T[l]!, ...c.lengths)));
    const r = this.rows++;
    const [H, D] = [this.heads, this.headDim];
    this.layers.forEach((c, l) => {
      const { key, value } = presents[l]!;
      const n = T[l]!;
      for (let h = 0; h < H; h++) {
        const src = ((b * H + h) * n) * D;
        const dst = (r * H + h) * c.capacity * D;
        c.keys.set((key.data as Floats).subarray(src, src + n * D), dst);
        c.values.set((value.data as Floats).subarray(src, src + n * D), dst);
      }
      const m = mask(l);
      const at = r * (c.capacity + 1);
      c.mask.fill(0, at, at + c.capacity + 1);
      for (let t = 0; t < n; t++) c.mask[at + t] = m[t] !== 0 ? 1 : 0;
      c.mask[at + c.capacity] = 1;
      c.lengths[r] = n;
    });
    return r;
  }

  /** Copies row `from` over row `to` (cached positions and mask). */
  private copyRow(to: number, from: number): void {
    const [H, D] = [this.heads, this.headDim];
    for (const c of this.layers) {
      const per = H * c.capacity * D;
      c.keys.copyWithin(to * per, from * per, (from + 1) * per);
      c.values.copyWithin(to * per, from * per, (from + 1) * per);
      c.mask.copyWithin(to * (c.capacity + 1), from * (c.capacity + 1), (from + 1) * (c.capacity + 1));
      c.lengths[to] = c.lengths[from]!;
    }
  }

  /** Removes row r; the last row takes its index (returned: the index that moved, or -1). */
  remove(r: number): number {
    if (r < 0 || r >= this.rows) throw new Error(`RowKvCache.remove: no row ${r} (${this.rows} rows)`);
    const last = this.rows - 1;
    if (r !== last) this.copyRow(r, last);
    this.rows--;
    for (const c of this.layers) c.lengths.length = this.rows;
    if (this.rows === 0) this.layers = []; // an empty batch gives its memory back
    return r !== last ? last : -1;
  }

  /** Row i takes the cache of row parents[i]. */
  reorder(parents: Int32Array): void {
    if (parents.length !== this.rows) throw new Error(`RowKvCache.reorder: expected ${this.rows} parents, got ${parents.length}`);
    if (parents.every((p, i) => p === i)) return;
    for (const c of this.layers) {
      const per = this.heads * c.capacity * this.headDim;
      const keys = c.keys.slice(0, this.rows * per);
      const values = c.values.slice(0, this.rows * per);
      const mask = c.mask.slice(0, this.rows * (c.capacity + 1));
      const lengths = [...c.lengths];
      parents.forEach((p, i) => {
        c.keys.set(keys.subarray(p * per, (p + 1) * per), i * per);
        c.values.set(values.subarray(p * per, (p + 1) * per), i * per);
        c.mask.set(mask.subarray(p * (c.capacity + 1), (p + 1) * (c.capacity + 1)), i * (c.capacity + 1));
        c.lengths[i] = lengths[p]!;
      });
    }
  }

  /** The step's cache feeds over the first `rows` rows (views of the buffers: no copy). */
  feeds(): Record<string, HostTensor> {
    const f: Record<string, HostTensor> = {};
    const [R, H, D] = [this.rows, this.heads, this.headDim];
    this.layers.forEach((c, l) => {
      f[`past_key_values.${l}.key`] = { dtype: 'float32', shape: [R, H, c.capacity, D], data: c.keys.subarray(0, R * H * c.capacity * D) };
      f[`past_key_values.${l}.value`] = { dtype: 'float32', shape: [R, H, c.capacity, D], data: c.values.subarray(0, R * H * c.capacity * D) };
      f[`attention_mask.${l}`] = { dtype: 'bool', shape: [R, c.capacity + 1], data: c.mask.subarray(0, R * (c.capacity + 1)) };
    });
    return f;
  }

  /** Writes a step's `new_key_values.{l}.key|value` [rows, Hkv, 1, Dh] at each row's next position. */
  append(out: Readonly<Record<string, HostTensor>>): void {
    const [H, D] = [this.heads, this.headDim];
    this.ensure(this.rows, this.layers.map((c) => Math.max(0, ...c.lengths) + 1));
    this.layers.forEach((c, l) => {
      const k = out[`new_key_values.${l}.key`]!.data as Floats;
      const v = out[`new_key_values.${l}.value`]!.data as Floats;
      for (let r = 0; r < this.rows; r++) {
        const n = c.lengths[r]!;
        for (let h = 0; h < H; h++) {
          const dst = ((r * H + h) * c.capacity + n) * D;
          const src = (r * H + h) * D;
          for (let j = 0; j < D; j++) {
            c.keys[dst + j] = k[src + j]!;
            c.values[dst + j] = v[src + j]!;
          }
        }
        c.mask[r * (c.capacity + 1) + n] = 1;
        c.lengths[r] = n + 1;
      }
    });
  }
}

/**
 * A prefix bank: `users` slots of one stored variant (every slot the same geometry), each
 * holding one adapter's stored activations.
 */
export interface PrefixBank {
  /** The plan of the stored injection with `users` slots (`causalPlan(cfg, storedInjection(sites, variant, users))`). */
  readonly plan: CausalPlan;
  readonly users: number;
  /** Puts an adapter's stored parameters (`LoadedAdapter.params`, shapes without the [U]) into a slot. */
  set(slot: number, params: Readonly<Record<string, HostTensor>>): Promise<void>;
}

/** Why a row left the batch. */
export type FinishReason = 'stop' | 'length' | 'cancelled';

/** A request for one row of the continuous batch. */
export interface RowRequest {
  /** The tokens the row is prefilled with (at least one). */
  readonly prompt: readonly number[];
  /** The row's prefix: a bank slot, or none (the base model). */
  readonly prefix?: { readonly bank: PrefixBank; readonly slot: number };
  /** Greedy or sampling settings, limits and processors (`numBeams` must be 1: see `session`). */
  readonly options: Omit<GenerateOptions, 'numBeams' | 'tokensPerRun' | 'numReturnSequences' | 'maxNewTokens'> & { readonly maxNewTokens: number };
  /**
   * Each chosen token, with its log-probability and the row's log-probabilities over the
   * vocabulary (each computed when called, during this call only); returning true ends the row
   * after it (a stop string), reason 'stop'.
   */
  onToken(token: number, logprob: () => number, logprobs: () => Float64Array): boolean | void;
  /** Called once when the row leaves (or fails: every row of a failed step gets the error). */
  onDone(reason: FinishReason, error?: Error): void;
  /** Polled before each step: true frees the row (a client that went away). */
  cancelled?(): boolean;
}

interface Row {
  readonly req: RowRequest;
  readonly tokens: number[]; // prompt + generated
  readonly promptLength: number;
  readonly sampler: Sampler;
  produced: number;
  lastPos: number;
  logits?: Float32Array | Float64Array; // the next token's logits, when known
  end?: FinishReason; // set when the row leaves after this step's token
}

export interface ContinuousDecoder {
  /** A bank of `users` slots for a stored variant's plan (`causalPlan(cfg, storedInjection(sites, variant, users))`). */
  bank(plan: CausalPlan, users: number): Promise<PrefixBank>;
  /** Queues a row; it joins the batch at the next step (rows beyond `maxRows` wait). */
  add(req: RowRequest): void;
  /** One step of the loop; resolves to the number of rows running or waiting after it. */
  step(): Promise<number>;
  /** Rows in the batch now, and rows waiting to join. */
  readonly running: number;
  readonly waiting: number;
  /**
   * A plain decoding session over the same executables (for `beamSearch`): `prompts` each
   * repeated `beams` times, all with `prefix`. Its cache is its own.
   */
  session(prompts: readonly (readonly number[])[], opts: { readonly beams?: number; readonly prefix?: { readonly bank: PrefixBank; readonly slot: number }; readonly padId?: number }): Promise<DecodeSession>;
  dispose(): Promise<void>;
}

/**
 * Compiles the step graph (once for all banks) and the base model's prefill of `cfg` with its
 * `params`. `maxRows`: rows decoded together at most (more wait for a free row).
 */
export const continuousDecoder = async (
  backend: Backend,
  cfg: CausalLmConfig,
  params: Readonly<Record<string, HostTensor>>,
  opts: { readonly maxRows: number; readonly padId?: number },
): Promise<ContinuousDecoder> => {
  if (!Number.isInteger(opts.maxRows) || opts.maxRows < 1) throw new Error(`continuousDecoder: maxRows must be a positive integer, got ${opts.maxRows}`);
  const step: Executable = await backend.compile(appendStepGraph(cfg), { params, repeated: true });
  const basePre: Executable = await backend.compile(prefillGraph(cfg, { attentionMask: true, positionIds: true }), { params });
  const geo = causalLmKvGeometry(cfg);
  const V = cfg.vocab_size;
  const pad = opts.padId ?? 0;
  const banks: { exe: Executable; bank: PrefixBank }[] = [];
  const cache = new RowKvCache(geo.layers, geo.heads, geo.headDim);
  let rows: Row[] = [];
  let queue: { req: RowRequest }[] = [];

  const bankOf = (b: PrefixBank | undefined) => banks.find((x) => x.bank === b);

  /** Prefills prompts of one prefix (left-padded); returns the presents, masks, logits and first positions. */
  const prefill = async (prompts: readonly (readonly number[])[], prefix: RowRequest['prefix'] | undefined, repeat = 1) => {
    const entry = prefix ? bankOf(prefix.bank) : undefined;
    if (prefix && !entry) throw new Error('continuousDecoder: a row names a bank of another decoder');
    const virtual = prefix?.bank.plan.virtual ?? 0;
    const R = prompts.length * repeat;
    const T0 = Math.max(1, ...prompts.map((p) => p.length));
    const ids = new Int32Array(R * T0).fill(pad);
    const mask = new Int32Array(R * T0);
    const pos = new Int32Array(R * T0).fill(1);
    const lastPos: number[] = [];
    prompts.forEach((p, b) => {
      if (p.length === 0) throw new Error('continuousDecoder: an empty prompt (give at least one token)');
      for (let k = 0; k < repeat; k++) {
        const r = b * repeat + k;
        const off = T0 - p.length;
        p.forEach((t, j) => {
          ids[r * T0 + off + j] = t;
          mask[r * T0 + off + j] = 1;
          pos[r * T0 + off + j] = virtual + j;
        });
        lastPos.push(virtual + p.length - 1);
      }
    });
    const feeds: Record<string, HostTensor> = { input_ids: i32([R, T0], ids), attention_mask: i32([R, T0], mask), position_ids: i32([R, T0], pos) };
    if (prefix) feeds['user_ids'] = i32([R], Array<number>(R).fill(prefix.slot));
    const out = await (entry?.exe ?? basePre).run(feeds);
    const presents = Array.from({ length: geo.layers }, (_, l) => ({ key: out[`present.${l}.key`]!, value: out[`present.${l}.value`]! }));
    // per layer: the prefix (and virtual embeddings) always visible, then the prompt's own mask
    const maskOf = (r: number) => (l: number): Int32Array => {
      const n = presents[l]!.key.shape[2]!;
      const m = new Int32Array(n).fill(1, 0, n - T0);
      m.set(mask.subarray(r * T0, (r + 1) * T0), n - T0);
      return m;
    };
    return { presents, maskOf, logits: out['logits']!.data as Float32Array, lastPos, R };
  };

  const finish = (i: number, reason: FinishReason, error?: Error): void => {
    const row = rows[i]!;
    const moved = cache.remove(i);
    if (moved >= 0) rows[i] = rows[moved]!;
    rows.length = cache.rows;
    try { row.req.onDone(reason, error); } catch { /* a consumer's failure is its own */ }
  };

  const admit = async (): Promise<void> => {
    const free = opts.maxRows - rows.length;
    if (free <= 0 || queue.length === 0) return;
    const joining = queue.slice(0, free).filter((q) => !(q.req.cancelled?.() ?? false));
    for (const q of queue.slice(0, free)) if (!joining.includes(q)) q.req.onDone('cancelled');
    queue = queue.slice(free);
    // one prefill per prefix (bank and slot: the bank graph takes user ids, so a bank could mix
    // slots in one prefill; grouped by slot here to keep each prefill's padding small)
    const groups = new Map<string, RowRequest[]>();
    for (const { req } of joining) {
      const k = req.prefix ? `${banks.findIndex((b) => b.bank === req.prefix!.bank)}:${req.prefix.slot}` : 'base';
      groups.set(k, [...(groups.get(k) ?? []), req]);
    }
    for (const reqs of groups.values()) {
      let p;
      try {
        p = await prefill(reqs.map((r) => r.prompt), reqs[0]!.prefix);
      } catch (e) {
        for (const r of reqs) r.onDone('cancelled', e as Error);
        continue;
      }
      reqs.forEach((req, b) => {
        const i = cache.add(p.presents, b, p.maskOf(b));
        rows[i] = { req, tokens: [...req.prompt], promptLength: req.prompt.length, sampler: new Sampler(req.options.seed ?? 0), produced: 0, lastPos: p.lastPos[b]!, logits: p.logits.subarray(b * V, (b + 1) * V) };
      });
    }
  };

  return {
    async bank(plan, users) {
      if (!Number.isInteger(users) || users < 1) throw new Error(`bank: users must be a positive integer, got ${users}`);
      if (plan.users !== users) throw new Error(`bank: the injection has ${plan.users} users, the bank ${users} (use storedInjection(sites, variant, ${users}))`);
      if (!plan.stored) throw new Error("bank: the injection must read stored activations (mode 'stored')");
      if (plan.infix > 0) throw new Error('bank: infix variants are not served by the continuous batch (their prompts are split around the infix)');
      const state: Record<string, { init: HostTensor }> = {};
      const host: Record<string, Float32Array> = {};
      for (const p of plan.params) {
        const n = p.shape.reduce((a, b) => a * b, 1);
        host[p.name] = new Float32Array(n);
        state[p.name] = { init: { dtype: 'float32', shape: [...p.shape], data: host[p.name]! } };
      }
      const exe = await backend.compile(plan.prefill, { params, state });
      const bank: PrefixBank = {
        plan, users,
        async set(slot, ps) {
          if (!Number.isInteger(slot) || slot < 0 || slot >= users) throw new Error(`bank.set: slot ${slot} outside [0, ${users})`);
          for (const p of plan.params) {
            const v = ps[p.name];
            const per = p.shape.slice(1);
            if (!v || v.shape.join() !== per.join()) throw new Error(`bank.set: '${p.name}' must be [${per}], got ${v ? `[${v.shape}]` : 'nothing'}`);
            const size = per.reduce((a, b) => a * b, 1);
            host[p.name]!.set(v.data as ArrayLike<number>, slot * size);
            await exe.writeState(p.name, { dtype: 'float32', shape: [...p.shape], data: host[p.name]! });
          }
        },
      };
      banks.push({ exe, bank });
      return bank;
    },
    add(req) {
      if ((req.options.maxNewTokens ?? 0) < 1) throw new Error('continuousDecoder.add: maxNewTokens must be >= 1');
      queue.push({ req });
    },
    get running() { return rows.length; },
    get waiting() { return queue.length; },
    async step() {
      // rows whose client went away leave before any work is done for them
      for (let i = rows.length - 1; i >= 0; i--) if (rows[i]!.req.cancelled?.()) finish(i, 'cancelled');
      await admit();
      if (rows.length === 0) return queue.length;
      // each row's next token, from its own logits and settings
      const next: number[] = [];
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!;
        const o = row.req.options;
        const { token, logprob, logprobs } = chooseToken(row.logits!, { tokens: row.tokens, promptLength: row.promptLength, maxLength: row.promptLength + o.maxNewTokens }, o, row.sampler);
        row.tokens.push(token);
        row.produced++;
        next[i] = token;
        let stop = false;
        try { stop = row.req.onToken(token, logprob, logprobs) === true; } catch { stop = true; }
        row.logits = undefined;
        if (stop || (o.eosTokenIds ?? []).includes(token)) row.end = 'stop';
        else if (row.produced >= o.maxNewTokens) row.end = 'length';
      }
      // leaving rows (from the end, so that the rows moved into their places were already seen)
      for (let i = rows.length - 1; i >= 0; i--) {
        const end = rows[i]!.end;
        if (end !== undefined) {
          next[i] = next[rows.length - 1]!;
          next.length = rows.length - 1;
          finish(i, end);
        }
      }
      if (rows.length === 0) return queue.length;
      for (const r of rows) r.lastPos++;
      try {
        const o = await step.run({ input_ids: i32([rows.length, 1], next), position_ids: i32([rows.length, 1], rows.map((r) => r.lastPos)), ...cache.feeds() });
        cache.append(o);
        const logits = o['logits']!.data as Float32Array;
        rows.forEach((r, i) => { r.logits = logits.subarray(i * V, (i + 1) * V); });
      } catch (e) {
        // a failed run fails the rows in it, not the loop
        for (let i = rows.length - 1; i >= 0; i--) finish(i, 'cancelled', e as Error);
      }
      return rows.length + queue.length;
    },
    async session(prompts, so) {
      const K = so.beams ?? 1;
      const p = await prefill(prompts, so.prefix, K);
      const own = new RowKvCache(geo.layers, geo.heads, geo.headDim);
      for (let r = 0; r < p.R; r++) own.add(p.presents, r, p.maskOf(r));
      const lastPos = Int32Array.from(p.lastPos);
      let logits: Float32Array = p.logits;
      return {
        vocabSize: V,
        logits: async () => logits,
        async advance(parents, tokens) {
          if (!parents.every((x, i) => x === i)) {
            own.reorder(parents);
            lastPos.set(Int32Array.from(parents, (x) => lastPos[x]!));
          }
          for (let r = 0; r < lastPos.length; r++) lastPos[r] = lastPos[r]! + 1;
          const o = await step.run({ input_ids: i32([own.rows, 1], tokens), position_ids: i32([own.rows, 1], lastPos), ...own.feeds() });
          own.append(o);
          logits = o['logits']!.data as Float32Array;
        },
      };
    },
    async dispose() {
      await step.dispose();
      await basePre.dispose();
      for (const b of banks) await b.exe.dispose();
    },
  };
};
