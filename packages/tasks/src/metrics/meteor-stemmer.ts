/**
 * The Snowball English ("Porter2") stemmer, as generated into Java for METEOR 1.5
 * (`org.tartarus.snowball.ext.englishStemmer`): written here from the published algorithm
 * (snowballstem.org, english.sbl of that time: R1 exceptions `gener`, `commun`, `arsen` only).
 * METEOR's stem module matches two different words with equal stems.
 */

const isVowel = (c: string): boolean => c === 'a' || c === 'e' || c === 'i' || c === 'o' || c === 'u' || c === 'y';

const EXCEPTION1: ReadonlyMap<string, string> = new Map([
  ['skis', 'ski'], ['skies', 'sky'], ['dying', 'die'], ['lying', 'lie'], ['tying', 'tie'],
  ['idly', 'idl'], ['gently', 'gentl'], ['ugly', 'ugli'], ['early', 'earli'], ['only', 'onli'],
  ['singly', 'singl'],
  ['sky', 'sky'], ['news', 'news'], ['howe', 'howe'], ['atlas', 'atlas'], ['cosmos', 'cosmos'],
  ['bias', 'bias'], ['andes', 'andes'],
]);

const EXCEPTION2: ReadonlySet<string> = new Set([
  'inning', 'outing', 'canning', 'herring', 'earring', 'proceed', 'exceed', 'succeed',
]);

/** Longest suffix of `w` from `list` (Snowball `among`), or undefined. */
const longestSuffix = (w: string, list: readonly string[]): string | undefined => {
  let best: string | undefined;
  for (const s of list) if (w.endsWith(s) && (best === undefined || s.length > best.length)) best = s;
  return best;
};

/** Position after the first non-vowel that follows a vowel, at or after `from`. */
const regionStart = (w: string, from: number): number => {
  let i = from;
  while (i < w.length && !isVowel(w[i])) i++;
  while (i < w.length && isVowel(w[i])) i++;
  return i < w.length ? i + 1 : w.length;
};

/** Snowball `shortv` at the end of `w`: (non-v, not w/x/Y) preceded by v preceded by non-v, or v + non-v = whole word. */
const endsShortSyllable = (w: string): boolean => {
  const n = w.length;
  if (n >= 3) {
    const a = w[n - 3];
    const b = w[n - 2];
    const c = w[n - 1];
    if (!isVowel(a) && isVowel(b) && !isVowel(c) && c !== 'w' && c !== 'x' && c !== 'Y') return true;
  }
  return n === 2 && isVowel(w[0]) && !isVowel(w[1]);
};

const hasVowel = (s: string): boolean => [...s].some(isVowel);

const STEP2: readonly (readonly [string, string])[] = [
  ['tional', 'tion'], ['enci', 'ence'], ['anci', 'ance'], ['abli', 'able'], ['entli', 'ent'],
  ['izer', 'ize'], ['ization', 'ize'], ['ational', 'ate'], ['ation', 'ate'], ['ator', 'ate'],
  ['alism', 'al'], ['aliti', 'al'], ['alli', 'al'], ['fulness', 'ful'], ['ousli', 'ous'],
  ['ousness', 'ous'], ['iveness', 'ive'], ['iviti', 'ive'], ['biliti', 'ble'], ['bli', 'ble'],
  ['ogi', 'og'], ['fulli', 'ful'], ['lessli', 'less'], ['li', ''],
];
const STEP2_MAP = new Map(STEP2);
const STEP2_KEYS = STEP2.map(([k]) => k);

const STEP3: ReadonlyMap<string, string> = new Map([
  ['tional', 'tion'], ['ational', 'ate'], ['alize', 'al'], ['icate', 'ic'], ['iciti', 'ic'],
  ['ical', 'ic'], ['ful', ''], ['ness', ''], ['ative', ''],
]);
const STEP3_KEYS = [...STEP3.keys()];

const STEP4_KEYS = [
  'al', 'ance', 'ence', 'er', 'ic', 'able', 'ible', 'ant', 'ement', 'ment', 'ent', 'ism', 'ate',
  'iti', 'ous', 'ive', 'ize', 'ion',
];

const VALID_LI = new Set(['c', 'd', 'e', 'g', 'h', 'k', 'm', 'n', 'r', 't']);
const DOUBLES = ['bb', 'dd', 'ff', 'gg', 'mm', 'nn', 'pp', 'rr', 'tt'];

/** Snowball English stem of one (lowercase) word. */
export const snowballEnglish = (word: string): string => {
  const exc = EXCEPTION1.get(word);
  if (exc !== undefined) return exc;
  if (word.length < 3) return word;

  // prelude: drop a leading apostrophe, mark consonant-y as Y
  let w = word.startsWith("'") ? word.slice(1) : word;
  if (w.startsWith('y')) w = 'Y' + w.slice(1);
  for (let i = 1; i < w.length; i++) if (w[i] === 'y' && isVowel(w[i - 1])) w = w.slice(0, i) + 'Y' + w.slice(i + 1);

  // regions
  const prefix = ['gener', 'commun', 'arsen'].find((p) => w.startsWith(p));
  const p1 = prefix !== undefined ? prefix.length : regionStart(w, 0);
  const p2 = regionStart(w, p1);
  const inR1 = (suffix: string): boolean => w.length - suffix.length >= p1;
  const inR2 = (suffix: string): boolean => w.length - suffix.length >= p2;
  const cut = (suffix: string, by = ''): void => {
    w = w.slice(0, w.length - suffix.length) + by;
  };

  // step 0
  const s0 = longestSuffix(w, ["'s'", "'s", "'"]);
  if (s0 !== undefined) cut(s0);

  // step 1a
  const s1a = longestSuffix(w, ['sses', 'ied', 'ies', 's', 'us', 'ss']);
  if (s1a === 'sses') cut(s1a, 'ss');
  else if (s1a === 'ied' || s1a === 'ies') cut(s1a, w.length - s1a.length > 1 ? 'i' : 'ie');
  else if (s1a === 's' && hasVowel(w.slice(0, w.length - 2))) cut(s1a);

  if (EXCEPTION2.has(w)) return w.replace(/Y/g, 'y');

  // step 1b
  const s1b = longestSuffix(w, ['eed', 'eedly', 'ed', 'edly', 'ing', 'ingly']);
  if (s1b === 'eed' || s1b === 'eedly') {
    if (inR1(s1b)) cut(s1b, 'ee');
  } else if (s1b !== undefined && hasVowel(w.slice(0, w.length - s1b.length))) {
    cut(s1b);
    const end = longestSuffix(w, ['at', 'bl', 'iz', ...DOUBLES]);
    if (end === 'at' || end === 'bl' || end === 'iz') w += 'e';
    else if (end !== undefined) w = w.slice(0, -1);
    else if (w.length === p1 && endsShortSyllable(w)) w += 'e';
  }

  // step 1c
  if (w.length > 2 && (w.endsWith('y') || w.endsWith('Y')) && !isVowel(w[w.length - 2])) cut('y', 'i');

  // step 2
  const s2 = longestSuffix(w, STEP2_KEYS);
  if (s2 !== undefined && inR1(s2)) {
    const before = w[w.length - s2.length - 1];
    if (s2 === 'ogi') {
      if (before === 'l') cut(s2, 'og');
    } else if (s2 === 'li') {
      if (before !== undefined && VALID_LI.has(before)) cut(s2);
    } else cut(s2, STEP2_MAP.get(s2));
  }

  // step 3
  const s3 = longestSuffix(w, STEP3_KEYS);
  if (s3 !== undefined && inR1(s3)) {
    if (s3 === 'ative') {
      if (inR2(s3)) cut(s3);
    } else cut(s3, STEP3.get(s3));
  }

  // step 4
  const s4 = longestSuffix(w, STEP4_KEYS);
  if (s4 !== undefined && inR2(s4)) {
    if (s4 === 'ion') {
      const before = w[w.length - 4];
      if (before === 's' || before === 't') cut(s4);
    } else cut(s4);
  }

  // step 5
  if (w.endsWith('e')) {
    if (inR2('e') || (inR1('e') && !endsShortSyllable(w.slice(0, -1)))) cut('e');
  } else if (w.endsWith('l')) {
    if (inR2('l') && w[w.length - 2] === 'l') cut('l');
  }

  return w.replace(/Y/g, 'y');
};
