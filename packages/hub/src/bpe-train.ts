/**
 * Training a byte-level BPE vocabulary (GPT-2's scheme) on a text sample, written as a
 * Hugging Face `tokenizer.json` (ByteLevel pre-tokenizer with GPT-2's regex, BPE model,
 * ByteLevel decoder) that `loadTokenizer` and transformers both read.
 *
 * The algorithm is Sennrich et al.'s, as the `tokenizers` library runs it: words (regex
 * pieces of the text, as byte-level strings) are counted; starting from the 256 byte symbols,
 * the most frequent adjacent pair (summed over word counts) is merged, repeatedly, until the
 * vocabulary is full. Pair counts are updated incrementally (only the words holding the
 * merged pair are revisited) and the most frequent pair is found with a lazy max-heap, so
 * a vocabulary of thousands of merges over a few megabytes of text takes seconds.
 * Ties are broken by the pair's symbols' ids (smaller first): training is deterministic.
 */

/** GPT-2's pre-tokenization regex (what the ByteLevel pre-tokenizer with `use_regex` applies). */
export const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's byte -> printable character table (bytes_to_unicode). */
export const byteToUnicode: readonly string[] = (() => {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const table: string[] = new Array<string>(256);
  for (const b of bs) table[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (table[b] === undefined) table[b] = String.fromCodePoint(256 + n++);
  return table;
})();

/** Options of `trainBpe`. */
export interface BpeTrainOptions {
  /** Total ids: 256 bytes + merges + special tokens. */
  readonly vocabSize: number;
  /** Special tokens, appended after the merges (default `<|endoftext|>`). */
  readonly specialTokens?: readonly string[];
  /** Words seen fewer times are ignored (default 2: hapaxes add noise and cost time). */
  readonly minWordCount?: number;
}

/** A trained vocabulary: the token strings by id (byte-level characters) and the merges in rank order. */
export interface BpeVocabulary {
  readonly tokens: readonly string[];
  readonly merges: readonly (readonly [string, string])[];
  readonly specialTokens: readonly string[];
}

/** Counts the pre-tokenized words of `texts` (as byte-level strings). */
export const countWords = (texts: Iterable<string>, into: Map<string, number> = new Map()): Map<string, number> => {
  for (const text of texts)
    for (const m of text.matchAll(GPT2_SPLIT)) {
      const w = m[0];
      into.set(w, (into.get(w) ?? 0) + 1);
    }
  return into;
};

/** A max-heap of [count, pairKey] with lazy deletion (stale entries are skipped on pop). */
class PairHeap {
  private readonly counts: number[] = [];
  private readonly keys: number[] = [];
  get size(): number {
    return this.counts.length;
  }
  private above(i: number, j: number): boolean {
    const ci = this.counts[i]!, cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }
  private swap(i: number, j: number): void {
    [this.counts[i], this.counts[j]] = [this.counts[j]!, this.counts[i]!];
    [this.keys[i], this.keys[j]] = [this.keys[j]!, this.keys[i]!];
  }
  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number] | undefined {
    const n = this.counts.length;
    if (n === 0) return undefined;
    const top: [number, number] = [this.counts[0]!, this.keys[0]!];
    const lc = this.counts.pop()!, lk = this.keys.pop()!;
    if (n > 1) {
      this.counts[0] = lc;
      this.keys[0] = lk;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < n - 1 && this.above(l, m)) m = l;
        if (r < n - 1 && this.above(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

const SHIFT = 65536;

/**
 * Learns merges from word counts until `vocabSize` ids (bytes + merges + specials) or until no
 * pair occurs twice. Throws RangeError for a vocabulary smaller than 256 + specials or above 65,536.
 */
export const trainBpe = (wordCounts: ReadonlyMap<string, number>, opts: BpeTrainOptions): BpeVocabulary => {
  const specials = opts.specialTokens ?? ['<|endoftext|>'];
  const minCount = opts.minWordCount ?? 2;
  const targetMerges = opts.vocabSize - 256 - specials.length;
  if (targetMerges < 0) throw new RangeError(`trainBpe: vocabSize ${opts.vocabSize} is below 256 byte tokens + ${specials.length} special tokens`);
  if (opts.vocabSize > SHIFT) throw new RangeError(`trainBpe: vocabSize ${opts.vocabSize} above ${SHIFT}`);
  const tokens: string[] = [...byteToUnicode];
  const enc = new TextEncoder();
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [w, c] of wordCounts) {
    if (c < minCount) continue;
    words.push(Array.from(enc.encode(w)));
    freq.push(c);
  }
  // pair -> count, pair -> words holding it (a superset: entries may go stale, and are re-checked)
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPair = (key: number, w: number, c: number): void => {
    pairCount.set(key, (pairCount.get(key) ?? 0) + c);
    if (c > 0) {
      let s = pairWords.get(key);
      if (!s) pairWords.set(key, (s = new Set()));
      s.add(w);
    }
  };
  for (let w = 0; w < words.length; w++) {
    const s = words[w]!;
    for (let i = 0; i + 1 < s.length; i++) addPair(s[i]! * SHIFT + s[i + 1]!, w, freq[w]!);
  }
  const heap = new PairHeap();
  for (const [k, c] of pairCount) heap.push(c, k);
  const merges: [string, string][] = [];
  while (merges.length < targetMerges) {
    const top = heap.pop();
    if (!top) break;
    const [c, key] = top;
    if (pairCount.get(key) !== c) continue; // stale
    if (c < 2) break;
    const a = Math.floor(key / SHIFT), b = key % SHIFT;
    const id = tokens.length;
    tokens.push(tokens[a]! + tokens[b]!);
    merges.push([tokens[a]!, tokens[b]!]);
    const changed = new Set<number>();
    for (const w of pairWords.get(key) ?? []) {
      const s = words[w]!;
      const f = freq[w]!;
      let i = 0;
      while (i + 1 < s.length) {
        if (s[i] === a && s[i + 1] === b) {
          if (i > 0) {
            const kl = s[i - 1]! * SHIFT + a;
            addPair(kl, w, -f);
            changed.add(kl);
          }
          if (i + 2 < s.length) {
            const kr = b * SHIFT + s[i + 2]!;
            addPair(kr, w, -f);
            changed.add(kr);
          }
          addPair(key, w, -f);
          s.splice(i, 2, id);
          if (i > 0) {
            const kl = s[i - 1]! * SHIFT + id;
            addPair(kl, w, f);
            changed.add(kl);
          }
          if (i + 1 < s.length) {
            const kr = id * SHIFT + s[i + 1]!;
            addPair(kr, w, f);
            changed.add(kr);
          }
        }
        i++;
      }
    }
    pairCount.delete(key);
    pairWords.delete(key);
    for (const k of changed) {
      const n = pairCount.get(k) ?? 0;
      if (n > 0) heap.push(n, k);
      else pairCount.delete(k);
    }
  }
  return { tokens: [...tokens, ...specials], merges, specialTokens: specials };
};

/** The Hugging Face `tokenizer.json` of a trained vocabulary (GPT-2's layout). */
export const bpeTokenizerJson = (v: BpeVocabulary): unknown => {
  const vocab: Record<string, number> = {};
  v.tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  const first = v.tokens.length - v.specialTokens.length;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: v.specialTokens.map((content, i) => ({
      id: first + i, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, vocab, merges: v.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
};

/** The `tokenizer_config.json` beside it: the first special token is BOS, EOS and UNK (as GPT-2's). */
export const bpeTokenizerConfig = (v: BpeVocabulary, modelMaxLength: number): unknown => {
  const eos = v.specialTokens[0];
  const first = v.tokens.length - v.specialTokens.length;
  return {
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(v.specialTokens.map((content, i) => [String(first + i), {
      content, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true,
    }])),
    ...(eos !== undefined ? { bos_token: eos, eos_token: eos, unk_token: eos } : {}),
    clean_up_tokenization_spaces: false,
    model_max_length: modelMaxLength,
    tokenizer_class: 'GPT2Tokenizer',
  };
};
