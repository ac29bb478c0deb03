/**
 * METEOR's WordNet synonym dictionary (`SynonymDictionary`): word → WordNet synset offsets, plus
 * inflected form → base forms from WordNet's exception lists, plus WordNet's detachment rules for
 * regular inflections. Two different words match when their synset sets intersect, each set
 * being the word's own synsets united with those of its base form. Synset offsets of different
 * parts of speech are not told apart, as in METEOR.
 */

/** The tables METEOR reads from `synonym/english.synsets` and `synonym/english.exceptions`. */
export type SynonymDictionary = {
  readonly wordToSynsets: ReadonlyMap<string, readonly number[]>;
  readonly wordToBases: ReadonlyMap<string, readonly string[]>;
};

const words = (line: string): string[] => line.split(/[ \t\n\r\f]+/).filter((t) => t.length > 0);

/** From METEOR's own files: alternating lines `word` / `offsets...` and `base` / `forms...`. */
export const synonymsFromMeteorFiles = (synsets: readonly string[], exceptions: readonly string[]): SynonymDictionary => {
  const wordToSynsets = new Map<string, number[]>();
  for (let i = 0; i + 1 < synsets.length; i += 2) {
    wordToSynsets.set(synsets[i], words(synsets[i + 1]).map(Number));
  }
  const wordToBases = new Map<string, string[]>();
  for (let i = 0; i + 1 < exceptions.length; i += 2) {
    const base = exceptions[i];
    for (const form of words(exceptions[i + 1])) {
      const list = wordToBases.get(form) ?? [];
      list.push(base);
      wordToBases.set(form, list);
    }
  }
  return { wordToSynsets, wordToBases };
};

/**
 * From WordNet 3.0's `index.sense` and exception files (`adj.exc`, `adv.exc`, `noun.exc`,
 * `verb.exc`), as METEOR's `build_wordnet_files.py` derives its tables: consecutive senses of a
 * lemma form its synset list (a later run of the same lemma replaces an earlier one), and each
 * exception line `form base...` maps the form to its bases.
 */
export const synonymsFromWordNet = (indexSense: readonly string[], exceptionFiles: readonly (readonly string[])[]): SynonymDictionary => {
  const wordToSynsets = new Map<string, number[]>();
  let cur = '';
  let sets: number[] = [];
  for (const line of indexSense) {
    const t = words(line);
    if (t.length < 2) continue;
    const word = t[0].split('%')[0];
    if (word !== cur) {
      if (cur !== '') wordToSynsets.set(cur, sets);
      cur = word;
      sets = [];
    }
    sets.push(Number(t[1]));
  }
  if (cur !== '') wordToSynsets.set(cur, sets);
  const wordToBases = new Map<string, string[]>();
  for (const file of exceptionFiles) {
    for (const line of file) {
      const t = words(line);
      for (const base of t.slice(1)) {
        const list = wordToBases.get(t[0]) ?? [];
        list.push(base);
        wordToBases.set(t[0], list);
      }
    }
  }
  return { wordToSynsets, wordToBases };
};

// WordNet's morphy detachment rules (nouns, verbs, adjectives), in METEOR's order.
const SUFFIX = ['s', 'ses', 'xes', 'zes', 'ches', 'shes', 'men', 'ies', 's', 'ies', 'es', 'es', 'ed', 'ed', 'ing', 'ing', 'er', 'est', 'er', 'est'];
const ENDING = ['', 's', 'x', 'z', 'ch', 'sh', 'man', 'y', '', 'y', 'e', '', 'e', '', 'e', '', '', '', 'e', 'e'];

/** METEOR's `morph`: the first detachment that yields a WordNet lemma; the word itself for `-ss` or ≤ 2 letters; else "". */
const morph = (d: SynonymDictionary, word: string): string => {
  if (word.endsWith('ss') || word.length <= 2) return word;
  for (let i = 0; i < SUFFIX.length; i++) {
    if (!word.endsWith(SUFFIX[i])) continue;
    const base = word.slice(0, word.length - SUFFIX[i].length) + ENDING[i];
    if (d.wordToSynsets.has(base)) return base;
  }
  return '';
};

/** The synsets METEOR compares for a word: its own and those of its base form(s). */
export const synsetsOf = (d: SynonymDictionary, word: string): ReadonlySet<number> => {
  const out = new Set<number>(d.wordToSynsets.get(word) ?? []);
  const bases = d.wordToBases.get(word);
  if (bases !== undefined) {
    for (const b of bases) for (const s of d.wordToSynsets.get(b) ?? []) out.add(s);
  } else {
    for (const s of d.wordToSynsets.get(morph(d, word)) ?? []) out.add(s);
  }
  return out;
};
