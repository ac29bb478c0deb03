/**
 * The function-word list used when METEOR's own (inside meteor-1.5.jar, not shipped) is not
 * available. METEOR weighs matches of function words by 1 − δ and of content words by δ; its
 * English list is a frequency list (the most frequent tokens of a large corpus, punctuation
 * included). This one is derived the same way from text we have: the
 * {@link FALLBACK_FUNCTION_WORD_COUNT} most frequent tokens, after METEOR's normalization and
 * lowercasing, of the first {@link FALLBACK_FUNCTION_WORD_LINES} text lines of the shared English
 * Wikipedia shard `data/corpus/wikipedia/wiki-00.txt.gz` (see {@link deriveFunctionWords}; a test
 * re-derives the list when the shard is present).
 */
import { javaTokens, meteorNormalize } from './meteor-normalize.ts';

/** Size of METEOR 1.5's English function-word list. */
export const FALLBACK_FUNCTION_WORD_COUNT = 93;
/** Lines of the Wikipedia shard the fallback list was counted on. */
export const FALLBACK_FUNCTION_WORD_LINES = 20_000;

/**
 * The `n` most frequent tokens of `lines` after METEOR normalization and lowercasing (ties:
 * alphabetical). Lines starting with `<` (WikiExtractor's `<doc>` markup) are skipped.
 */
export const deriveFunctionWords = (lines: Iterable<string>, n: number): readonly string[] => {
  const counts = new Map<string, number>();
  for (const line of lines) {
    if (line.startsWith('<')) continue;
    for (const t of javaTokens(meteorNormalize(line).toLowerCase())) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .slice(0, n)
    .map(([t]) => t);
};

/** deriveFunctionWords(first 20,000 lines of wiki-00.txt.gz, 93), generated and checked by a test. */
export const FALLBACK_FUNCTION_WORDS: ReadonlySet<string> = new Set([
  'the', ',', '.', 'of', 'and', '"', 'in', 'to', 'a', 'is', 'as', ')', '(', 'was', 'that', 'for',
  'by', 'with', '\'s', 'on', 'are', 'from', 'his', 'it', 'an', 'or', 'be', 'which', 'at', 'he',
  'this', ':', 'were', 'have', 'not', 'has', 'also', 'but', 'one', ';', 'their', 'had', 'its',
  'other', 'they', 'first', 'been', 'such', 'all', 'some', '\'', 'more', 'most', 'used', 'can',
  '-', 'after', 'who', 'two', 'many', 'than', 'when', 'there', 'into', 'these', 'time', 'only',
  'would', 'new', 'may', 'world', 'during', '%', 'between', 'about', '/', 'state', 'her', 'war',
  'if', 'states', 'while', 'where', 'over', 'use', 'no', 'years', 'known', 'century', 'however',
  'number', 'through', 'so',
]);
