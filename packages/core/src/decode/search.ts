/**
 * Decoding algorithms over an abstract model session: greedy, sampling and beam search,
 * with Hugging Face `generate` semantics (the vectorised beam search of transformers 4.5x+:
 * top 2·K continuations, finished hypotheses scored by `sum logprob / generated_len ^
 * length_penalty`, the same early-stopping heuristic). The session owns the model and its
 * KV cache; these functions only choose tokens, so they run on any backend.
 */
import { hasLogitsProcessors, processRow, warpRow, logSoftmaxOf, softmaxOf, type ProcessorOptions, type RowContext, type WarperOptions } from './processors.ts';
import { Sampler } from '../random.ts';

/**
 * A model being decoded. It holds `rows` sequences (batch × beams); `logits()` returns the
 * next-token logits of every row ([rows, V], row-major); `advance(parents, tokens)` makes row
 * i continue old row `parents[i]` (beam reordering of the KV cache) and appends `tokens[i]`.
 */
export interface DecodeSession {
  readonly vocabSize: number;
  logits(): Promise<Float32Array>;
  advance(parents: Int32Array, tokens: Int32Array): Promise<void>;
  /**
   * Optional: reads `tokens` (one per row, as `advance` with every row its own parent) and goes
   * on greedily for n - 1 more tokens in one backend run, returning them ([R, n-1], row-major)
   * with their log-probabilities; `logits()` then gives the logits after the last of them.
   */
  advanceGreedy?(tokens: Int32Array, n: number): Promise<{ readonly tokens: Int32Array; readonly logprobs: Float32Array }>;
}

export interface GenerateOptions extends ProcessorOptions, WarperOptions {
  /**
   * Tokens to generate at most (excluding the prompt): one number for every row, or one per
   * prompt (each row's room is its own: a long prompt does not cut the others').
   */
  readonly maxNewTokens: number | readonly number[];
  /**
   * The encoder's input of each prompt (encoder-decoder models), for the encoder repetition
   * penalty and n-gram rule; default: the prompts themselves, as transformers does for
   * decoder-only models.
   */
  readonly encoderInputIds?: readonly (readonly number[])[];
  readonly numBeams?: number;
  /**
   * Greedy decoding without logits processors (no n-gram, bad-word, minimum-length or forced
   * tokens): tokens per backend run on sessions that can (`advanceGreedy`; default 1). The
   * tokens are those of one run per token; the scores agree to float32 rounding.
   */
  readonly tokensPerRun?: number;
  readonly lengthPenalty?: number;
  /** true: stop a batch item when K hypotheses are finished; false: HF's heuristic; 'never': canonical. */
  readonly earlyStopping?: boolean | 'never';
  readonly doSample?: boolean;
  readonly seed?: number;
  /**
   * Sampling: one seed per row, each row drawing from its own stream (a row then samples the
   * same tokens in any batch); default: one stream from `seed` shared by the rows in order.
   */
  readonly rowSeeds?: readonly number[];
  /** Sequences returned per batch item (<= numBeams). */
  readonly numReturnSequences?: number;
  /** Filler after EOS (default: the first EOS id). */
  readonly padTokenId?: number;
  /**
   * Streaming: called with each row's token as soon as it is chosen (greedy and sampling; up to
   * and including the row's EOS, never its fillers). Beam search calls nothing: its sequences
   * are known only at the end.
   */
  readonly onToken?: (row: number, token: number) => void;
}

export interface Generated {
  /** Per returned sequence: the generated tokens (prompt excluded, EOS included if produced). */
  readonly tokens: number[][];
  /** Beam search: the length-penalised score of each returned sequence; otherwise sum of log-probs. */
  readonly scores: number[];
}

/**
 * The seed of sampled row `n` of a run drawn from `seed` (`rowSeeds`): a row samples alike
 * whatever batch it is decoded in (the CLI's batches, the server's continuous batch).
 */
export const rowSeed = (seed: number, n: number): number => (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(n + 1, 0xc2b2ae35)) >>> 0;

/** The new-token limit of each of `n` prompts. */
export const rowLimits = (o: Pick<GenerateOptions, 'maxNewTokens'>, n: number): number[] => {
  const m = o.maxNewTokens;
  if (typeof m !== 'number' && m.length !== n) throw new Error(`maxNewTokens: ${m.length} limits for ${n} prompts`);
  const out = typeof m === 'number' ? new Array<number>(n).fill(m) : [...m];
  out.forEach((x, i) => {
    if (!Number.isInteger(x) || x < 1) throw new Error(`maxNewTokens of prompt ${i} must be an integer >= 1, got ${x}`);
  });
  return out;
};

/**
 * The next token of one row of greedy decoding or sampling: the processors applied to the
 * row's logits, then the argmax (first maximum on ties) or a draw from `sampler` after the
 * warpers; `logprob()` is the token's log-probability under the raw logits (what scores add up),
 * `logprobs()` the row's log-probabilities (both computed on demand, while `logits` is unchanged).
 * Plain greedy decoding (no processors) reads the logits in place: no copy of the vocabulary
 * per row and token. Every decoding loop (this module's, the continuous batch's) chooses its
 * tokens here.
 */
export const chooseToken = (
  logits: ArrayLike<number>,
  row: RowContext,
  o: ProcessorOptions & WarperOptions & { readonly doSample?: boolean },
  sampler: Sampler,
): { readonly token: number; logprob(): number; logprobs(): Float64Array } => {
  const V = logits.length;
  // log-softmax's normaliser, computed when asked for as logSoftmaxOf computes it (the same values)
  let lse: number | undefined;
  const normaliser = (): number => {
    if (lse !== undefined) return lse;
    let m = -Infinity;
    for (let i = 0; i < V; i++) m = Math.max(m, logits[i]!);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[i]! - m);
    return (lse = m + Math.log(sum));
  };
  let tok: number;
  if (!o.doSample && !hasLogitsProcessors(o)) {
    tok = 0;
    for (let i = 1; i < V; i++) if (logits[i]! > logits[tok]!) tok = i;
  } else {
    const scores = Float64Array.from(logits);
    processRow(scores, row, o);
    if (o.doSample) {
      warpRow(scores, o);
      const p = softmaxOf(scores);
      let u = sampler.uniform();
      tok = p.length - 1;
      for (let i = 0; i < p.length; i++) { u -= p[i]!; if (u < 0) { tok = i; break; } }
    } else {
      tok = 0;
      for (let i = 1; i < V; i++) if (scores[i]! > scores[tok]!) tok = i;
    }
  }
  const chosen = tok;
  return {
    token: chosen,
    logprob: () => logits[chosen]! - normaliser(),
    logprobs: () => { const z = normaliser(); return Float64Array.from({ length: V }, (_, i) => logits[i]! - z); },
  };
};

/**
 * Greedy decoding or sampling (one row per prompt). `prompts` are the token sequences the
 * session was prefilled with (used by the processors: n-grams, min length).
 */
export const greedyOrSample = async (s: DecodeSession, prompts: readonly (readonly number[])[], o: GenerateOptions): Promise<Generated> => {
  const B = prompts.length;
  const V = s.vocabSize;
  const eos = o.eosTokenIds ?? [];
  const pad = o.padTokenId ?? eos[0] ?? 0;
  const seqs = prompts.map((p) => [...p]);
  const out: number[][] = prompts.map(() => []);
  const scores = new Array<number>(B).fill(0);
  const done = new Array<boolean>(B).fill(false);
  if (o.rowSeeds !== undefined && o.rowSeeds.length !== B) throw new Error(`rowSeeds: ${o.rowSeeds.length} seeds for ${B} rows`);
  const shared = new Sampler(o.seed ?? 0);
  const samplers = o.rowSeeds ? o.rowSeeds.map((x) => new Sampler(x)) : undefined;
  const identity = Int32Array.from({ length: B }, (_, i) => i);
  const perRun = o.tokensPerRun ?? 1;
  if (!Number.isInteger(perRun) || perRun < 1) throw new Error(`tokensPerRun must be a positive integer, got ${perRun}`);
  const chunked = perRun > 1 && s.advanceGreedy !== undefined && !o.doSample && !hasLogitsProcessors(o); // the argmax of the raw logits
  const limit = rowLimits(o, B);
  // a row stops at EOS or at its own limit; the others go on
  const finish = (b: number, tok: number): void => {
    if (eos.includes(tok) || out[b]!.length >= limit[b]!) done[b] = true;
  };
  for (;;) {
    const logits = await s.logits();
    const next = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      if (done[b]) { next[b] = pad; continue; }
      const encoderTokens = o.encoderInputIds?.[b];
      const { token: tok, logprob } = chooseToken(logits.subarray(b * V, (b + 1) * V), { tokens: seqs[b]!, promptLength: prompts[b]!.length, maxLength: prompts[b]!.length + limit[b]!, ...(encoderTokens ? { encoderTokens } : {}) }, o, samplers ? samplers[b]! : shared);
      next[b] = tok;
      scores[b]! += logprob();
      seqs[b]!.push(tok);
      out[b]!.push(tok);
      o.onToken?.(b, tok);
      finish(b, tok);
    }
    if (done.every(Boolean)) break;
    const left = Math.max(...out.map((t, b) => (done[b] ? 0 : limit[b]! - t.length)));
    const n = chunked ? Math.min(perRun, left) : 1;
    if (n === 1) {
      await s.advance(identity, next);
      continue;
    }
    // n - 1 more tokens in one run; a finished row's are dropped (rows do not interact)
    const r = await s.advanceGreedy!(next, n);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < n - 1 && !done[b]; j++) {
        const tok = r.tokens[b * (n - 1) + j]!;
        scores[b]! += r.logprobs[b * (n - 1) + j]!;
        seqs[b]!.push(tok);
        out[b]!.push(tok);
        o.onToken?.(b, tok);
        finish(b, tok);
      }
    }
    if (done.every(Boolean)) break;
  }
  return { tokens: out, scores };
};


interface Hyp { readonly tokens: number[]; readonly score: number }

/** Indices of the k largest values, ties broken by lower index (stable). */
const topK = (xs: ArrayLike<number>, k: number): number[] => {
  const idx = Array.from({ length: xs.length }, (_, i) => i);
  idx.sort((a, b) => (xs[b]! - xs[a]!) || a - b);
  return idx.slice(0, k);
};

/**
 * Beam search. The session must hold `prompts.length × numBeams` rows, each batch item's
 * beams consecutive and initially identical (the prompt expanded, as HF does).
 */
export const beamSearch = async (s: DecodeSession, prompts: readonly (readonly number[])[], o: GenerateOptions): Promise<Generated> => {
  const K = o.numBeams ?? 1;
  const B = prompts.length;
  const V = s.vocabSize;
  const lp = o.lengthPenalty ?? 1;
  const early = o.earlyStopping ?? false;
  const eos = o.eosTokenIds ?? [];
  const nRet = o.numReturnSequences ?? 1;
  if (nRet > K) throw new Error(`numReturnSequences (${nRet}) must be <= numBeams (${K})`);
  const keep = Math.max(2, 1 + eos.length) * K;
  const promptLen = prompts.map((p) => p.length);
  const limit = rowLimits(o, B);
  const maxLen = promptLen.map((l, b) => l + limit[b]!);
  // running beams per batch item
  let running: { tokens: number[]; score: number }[][] = prompts.map((p) =>
    Array.from({ length: K }, (_, k) => ({ tokens: [...p], score: k === 0 ? 0 : -1e9 })));
  const finished: Hyp[][] = prompts.map(() => []);
  const heuristicOpen = new Array<boolean>(B).fill(true);
  const itemDone = new Array<boolean>(B).fill(false);
  for (let step = 0; ; step++) {
    const logits = await s.logits();
    const parents = new Int32Array(B * K);
    const tokens = new Int32Array(B * K);
    let anyContinue = false;
    for (let b = 0; b < B; b++) {
      const curLen = promptLen[b]! + step;
      // accumulated log-probs over K × V candidates
      const acc = new Float64Array(K * V);
      for (let k = 0; k < K; k++) {
        const r = b * K + k;
        const row = logSoftmaxOf(logits.subarray(r * V, (r + 1) * V));
        const encoderTokens = o.encoderInputIds?.[b];
        processRow(row, { tokens: running[b]![k]!.tokens, promptLength: promptLen[b]!, maxLength: maxLen[b]!, ...(encoderTokens ? { encoderTokens } : {}) }, o);
        const base = running[b]![k]!.score;
        for (let v = 0; v < V; v++) acc[k * V + v] = row[v]! + base;
      }
      const cand = topK(acc, keep).map((i) => {
        const k = Math.floor(i / V);
        const tok = i % V;
        const hits = eos.includes(tok) || curLen + 1 >= maxLen[b]!;
        return { k, tok, score: acc[i]!, hits };
      });
      // finished: only the top K candidates may finish (HF's top_num_beam_mask)
      if (!itemDone[b]) {
        const full = finished[b]!.length >= K && early === true;
        if (!full && heuristicOpen[b])
          cand.slice(0, K).forEach((c) => {
            if (!c.hits || c.score <= -1e9 / 2) return;
            const hyp = { tokens: [...running[b]![c.k]!.tokens.slice(promptLen[b]!), c.tok], score: c.score / Math.pow(curLen + 1 - promptLen[b]!, lp) };
            finished[b]!.push(hyp);
          });
        finished[b]!.sort((x, y) => y.score - x.score);
        finished[b]!.splice(K);
      }
      // next running beams: best K candidates that did not hit a stopping criterion
      const next = [...cand].map((c, i) => ({ ...c, i, run: c.score + (c.hits ? -1e9 : 0) }))
        .sort((x, y) => (y.run - x.run) || x.i - y.i).slice(0, K);
      const newRunning = next.map((c) => ({ tokens: [...running[b]![c.k]!.tokens, c.tok], score: c.run }));
      next.forEach((c, j) => { parents[b * K + j] = b * K + c.k; tokens[b * K + j] = c.tok; });
      running[b] = newRunning;
      // early-stop heuristic (HF _check_early_stop_heuristic), evaluated at cur_len + 1
      const nextLen = curLen + 1;
      const bestLen = early === 'never' && lp > 0 ? maxLen[b]! - promptLen[b]! : nextLen - promptLen[b]!;
      const bestPossible = newRunning[0]!.score / Math.pow(bestLen, lp);
      const worstFinished = finished[b]!.length >= K ? finished[b]![finished[b]!.length - 1]!.score : -1e9;
      heuristicOpen[b] = heuristicOpen[b]! && bestPossible > worstFinished;
      const allFinished = finished[b]!.length >= K;
      const allHit = next.every((c) => c.hits);
      itemDone[b] = !heuristicOpen[b] || (allFinished && early === true) || allHit;
      if (!itemDone[b]) anyContinue = true;
    }
    if (!anyContinue) break;
    await s.advance(parents, tokens);
  }
  const pad = o.padTokenId ?? eos[0] ?? 0;
  void pad;
  const tokensOut: number[][] = [];
  const scoresOut: number[] = [];
  for (let b = 0; b < B; b++)
    for (let r = 0; r < nRet; r++) {
      const h = finished[b]![r];
      tokensOut.push(h ? h.tokens : running[b]![r]!.tokens.slice(promptLen[b]!));
      scoresOut.push(h ? h.score : -1e9);
    }
  return { tokens: tokensOut, scores: scoresOut };
};

/** Greedy, sampling or beam search, by the options (numBeams > 1 means beam search). */
export const generate = (s: DecodeSession, prompts: readonly (readonly number[])[], o: GenerateOptions): Promise<Generated> =>
  (o.numBeams ?? 1) > 1 ? beamSearch(s, prompts, o) : greedyOrSample(s, prompts, o);
