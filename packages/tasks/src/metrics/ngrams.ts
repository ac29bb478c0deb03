/** Word n-gram counting shared by the BLEU/NIST/ROUGE scorers. Tokens never contain a space. */

/** Counts of all n-grams of `tokens` with minN <= n <= maxN, keyed by the tokens joined with ' '. */
export const countNgrams = (tokens: readonly string[], minN: number, maxN: number): Map<string, number> => {
  const counts = new Map<string, number>();
  for (let i = 0; i < tokens.length; i++) {
    let key = '';
    for (let n = 1; n <= maxN && i + n <= tokens.length; n++) {
      key = n === 1 ? tokens[i] : `${key} ${tokens[i + n - 1]}`;
      if (n >= minN) counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
};

/** The order of an n-gram key made by {@link countNgrams}. */
export const ngramOrder = (key: string): number => {
  let n = 1;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 32) n++;
  return n;
};

/** Number of n-grams of order n in a sequence of `length` tokens. */
export const ngramTotal = (length: number, n: number): number => Math.max(0, length - n + 1);

/** Element-wise maximum of n-gram counts (BLEU's clipping counts over several references). */
export const maxCounts = (into: Map<string, number>, counts: ReadonlyMap<string, number>): Map<string, number> => {
  for (const [k, c] of counts) {
    const prev = into.get(k);
    if (prev === undefined || c > prev) into.set(k, c);
  }
  return into;
};

/** Throws a RangeError naming the metric when the corpus is malformed. */
export const checkRefsHyps = (metric: string, refs: readonly (readonly string[])[], hyps: readonly string[]): void => {
  if (refs.length !== hyps.length) {
    throw new RangeError(`${metric}: ${hyps.length} hypotheses but ${refs.length} reference lists`);
  }
  refs.forEach((r, i) => {
    if (r.length === 0) throw new RangeError(`${metric}: segment ${i} has no reference`);
  });
};
