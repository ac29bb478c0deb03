/**
 * The Porter stemmer as NLTK's `PorterStemmer()` runs it in its default mode, NLTK_EXTENSIONS,
 * which is the stemmer that Google's rouge-score builds for `use_stemmer=True`
 * (`rouge_score.tokenizers.DefaultTokenizer` calls `porter.PorterStemmer()` with no mode).
 * The NLTK extensions over Porter (1980): a table of irregular forms (dying -> die, ...), words of
 * at most 2 letters kept, `ies`/`ied` of 4-letter words to `ie`, `ied` to `i`, `y -> i` only after a
 * consonant that is not the first letter, `alli` handled first in step 2 and recursively, `bli`
 * (not `abli`), `fulli` and `logi` rules, and a 2-letter `vc` word counting as `*o`.
 */

const IRREGULAR: ReadonlyMap<string, string> = new Map(
  Object.entries({
    sky: ['sky', 'skies'],
    die: ['dying'],
    lie: ['lying'],
    tie: ['tying'],
    news: ['news'],
    inning: ['innings', 'inning'],
    outing: ['outings', 'outing'],
    canning: ['cannings', 'canning'],
    howe: ['howe'],
    proceed: ['proceed'],
    exceed: ['exceed'],
    succeed: ['succeed'],
  }).flatMap(([stem, forms]) => forms.map((f): [string, string] => [f, stem])),
);

const isVowelLetter = (c: string): boolean => c === 'a' || c === 'e' || c === 'i' || c === 'o' || c === 'u';

/** Consonant flags: a `y` is a consonant at the start or after a vowel, a vowel after a consonant. */
const consonantFlags = (w: string): boolean[] => {
  const flags: boolean[] = [];
  for (let i = 0; i < w.length; i++) {
    const c = w[i];
    flags.push(isVowelLetter(c) ? false : c === 'y' ? (i === 0 ? true : !flags[i - 1]) : true);
  }
  return flags;
};

const isConsonant = (w: string, i: number): boolean => consonantFlags(w.slice(0, i + 1))[i];

/** Porter's measure m of [C](VC){m}[V]. */
const measure = (stem: string): number => {
  const f = consonantFlags(stem);
  let m = 0;
  for (let i = 1; i < f.length; i++) if (!f[i - 1] && f[i]) m++;
  return m;
};

const containsVowel = (stem: string): boolean => consonantFlags(stem).some((c) => !c);

const endsDoubleConsonant = (w: string): boolean =>
  w.length >= 2 && w[w.length - 1] === w[w.length - 2] && isConsonant(w, w.length - 1);

/** Condition *o (with NLTK's 2-letter vowel-consonant extension). */
const endsCvc = (w: string): boolean => {
  const n = w.length;
  if (n >= 3) {
    const f = consonantFlags(w);
    if (f[n - 3] && !f[n - 2] && f[n - 1] && !'wxy'.includes(w[n - 1])) return true;
  }
  if (n === 2) {
    const f = consonantFlags(w);
    return !f[0] && f[1];
  }
  return false;
};

type Rule = readonly [suffix: string, replacement: string, condition: ((stem: string) => boolean) | null];

/** NLTK's `_apply_rule_list`: the first rule whose suffix matches decides (applies or keeps the word). */
const applyRules = (word: string, rules: readonly Rule[]): string => {
  for (const [suffix, replacement, condition] of rules) {
    if (suffix === '*d' && endsDoubleConsonant(word)) {
      const stem = word.slice(0, -2);
      return condition === null || condition(stem) ? stem + replacement : word;
    }
    if (word.endsWith(suffix)) {
      const stem = suffix === '' ? word : word.slice(0, -suffix.length);
      return condition === null || condition(stem) ? stem + replacement : word;
    }
  }
  return word;
};

const positive = (stem: string): boolean => measure(stem) > 0;
const gt1 = (stem: string): boolean => measure(stem) > 1;

const step1a = (w: string): string => {
  if (w.endsWith('ies') && w.length === 4) return w.slice(0, -3) + 'ie';
  return applyRules(w, [['sses', 'ss', null], ['ies', 'i', null], ['ss', 'ss', null], ['s', '', null]]);
};

const step1b = (w: string): string => {
  if (w.endsWith('ied')) return w.slice(0, -3) + (w.length === 4 ? 'ie' : 'i');
  if (w.endsWith('eed')) {
    const stem = w.slice(0, -3);
    return measure(stem) > 0 ? stem + 'ee' : w;
  }
  let inter: string | undefined;
  for (const suffix of ['ed', 'ing']) {
    if (w.endsWith(suffix)) {
      const s = w.slice(0, -suffix.length);
      if (containsVowel(s)) {
        inter = s;
        break;
      }
    }
  }
  if (inter === undefined) return w;
  const last = inter[inter.length - 1];
  return applyRules(inter, [
    ['at', 'ate', null],
    ['bl', 'ble', null],
    ['iz', 'ize', null],
    ['*d', last, () => last !== 'l' && last !== 's' && last !== 'z'],
    ['', 'e', (stem) => measure(stem) === 1 && endsCvc(stem)],
  ]);
};

const step1c = (w: string): string =>
  applyRules(w, [['y', 'i', (stem) => stem.length > 1 && isConsonant(stem, stem.length - 1)]]);

const step2 = (w: string): string => {
  if (w.endsWith('alli') && positive(w.slice(0, -4))) return step2(w.slice(0, -4) + 'al');
  return applyRules(w, [
    ['ational', 'ate', positive],
    ['tional', 'tion', positive],
    ['enci', 'ence', positive],
    ['anci', 'ance', positive],
    ['izer', 'ize', positive],
    ['bli', 'ble', positive],
    ['alli', 'al', positive],
    ['entli', 'ent', positive],
    ['eli', 'e', positive],
    ['ousli', 'ous', positive],
    ['ization', 'ize', positive],
    ['ation', 'ate', positive],
    ['ator', 'ate', positive],
    ['alism', 'al', positive],
    ['iveness', 'ive', positive],
    ['fulness', 'ful', positive],
    ['ousness', 'ous', positive],
    ['aliti', 'al', positive],
    ['iviti', 'ive', positive],
    ['biliti', 'ble', positive],
    ['fulli', 'ful', positive],
    ['logi', 'log', () => positive(w.slice(0, -3))],
  ]);
};

const step3 = (w: string): string =>
  applyRules(w, [
    ['icate', 'ic', positive],
    ['ative', '', positive],
    ['alize', 'al', positive],
    ['iciti', 'ic', positive],
    ['ical', 'ic', positive],
    ['ful', '', positive],
    ['ness', '', positive],
  ]);

const step4 = (w: string): string =>
  applyRules(w, [
    ['al', '', gt1],
    ['ance', '', gt1],
    ['ence', '', gt1],
    ['er', '', gt1],
    ['ic', '', gt1],
    ['able', '', gt1],
    ['ible', '', gt1],
    ['ant', '', gt1],
    ['ement', '', gt1],
    ['ment', '', gt1],
    ['ent', '', gt1],
    ['ion', '', (stem) => measure(stem) > 1 && (stem.endsWith('s') || stem.endsWith('t'))],
    ['ou', '', gt1],
    ['ism', '', gt1],
    ['ate', '', gt1],
    ['iti', '', gt1],
    ['ous', '', gt1],
    ['ive', '', gt1],
    ['ize', '', gt1],
  ]);

const step5a = (w: string): string => {
  if (!w.endsWith('e')) return w;
  const stem = w.slice(0, -1);
  const m = measure(stem);
  return m > 1 || (m === 1 && !endsCvc(stem)) ? stem : w;
};

const step5b = (w: string): string => applyRules(w, [['ll', 'l', () => measure(w.slice(0, -1)) > 1]]);

/**
 * NLTK's `PorterStemmer().stem(word)` (NLTK_EXTENSIONS mode). The word is lowercased first
 * (as NLTK's `to_lowercase=True`).
 */
export const porterStem = (word: string): string => {
  const w = word.toLowerCase();
  const irregular = IRREGULAR.get(w);
  if (irregular !== undefined) return irregular;
  if (word.length <= 2) return w;
  return step5b(step5a(step4(step3(step2(step1c(step1b(step1a(w))))))));
};
