/**
 * METEOR 1.5's `-norm` text normalization for English (`Normalizer.normalizeLine` with
 * punctuation kept), written from its documented behaviour: a Moses-style tokenizer that splits
 * punctuation, keeps commas and dots inside numbers, normalizes quotes and dashes, splits
 * hyphenated words ("family-friendly" becomes "family friendly"), splits English contractions to
 * the right ("it's" becomes "it 's") and breaks a word-final dot unless the word is a listed
 * non-breaking prefix or the next word starts lower-case. Regular expressions follow Java
 * semantics: `\s` and `\p{Digit}` are ASCII-only there, so they are spelled out here.
 */

/** Letters of METEOR's Western/Cyrillic normalizer (`alpha`), as a character-class body. */
const ALPHA =
  'A-Za-z\\u0160\\u017D\\u0161\\u017E\\u0178\\u00C0-\\u00D6\\u00D8-\\u00F6\\u00F8-\\u017E\\u0400-\\u04FF\\u0500-\\u0527\\uA640-\\uA66E\\uA67E-\\uA697\\u1D00-\\u1D7F';
const ALNUM = `0-9${ALPHA}`;
const JAVA_SPACE = ' \\t\\n\\u000B\\f\\r';

const R_SEP_OTHER = new RegExp(`([^${ALNUM}${JAVA_SPACE}.'\`,\\-\\u2018\\u2019])`, 'g');
const R_MULTI_DOT = /\.([.]+)/g;
const R_MULTI_DOT2 = /DOTMULTI\.([^.])/g;
const R_COMMA = /([^0-9]),([^0-9])/g;
const R_COMMA2 = /([0-9]),([^0-9])/g;
const R_COMMA3 = /([^0-9]),([0-9])/g;
const R_QUOTE = /[`\u2018\u2019]/g;
const R_QUOTE2 = /[\u201C\u201D]|''/g;
const R_RM_DASH = new RegExp(`([${ALNUM}.])-([${ALNUM}])`, 'g');
const R_CONT_EN = new RegExp(`([^${ALPHA}])'([^${ALPHA}])`, 'g');
const R_CONT_EN2 = new RegExp(`([^${ALPHA}0-9])'([${ALPHA}])`, 'g');
const R_CONT_EN3 = new RegExp(`([${ALPHA}])'([^${ALPHA}])`, 'g');
const R_CONT_EN4 = new RegExp(`([${ALPHA}])'([${ALPHA}])`, 'g');
const R_CONT_EN5 = /([0-9])'(s)/g;
const R_NBP_LETTER = new RegExp(`[${ALPHA}]`);
const R_WHITE = /[ \u2000-\u200A\u202F\u205F\u3000\u00A0]+/g;
/** java.util.StringTokenizer's default delimiters */
const TOKEN_DELIMS = /[ \t\n\r\f]+/;

/** Kind of a non-breaking prefix (Moses `nonbreaking_prefix` files): always, or before numbers only. */
export type NonbreakingKind = 'any' | 'numeric';

/** Parses a METEOR/Moses non-breaking prefix list (`nonbreaking/english.prefixes`). */
export const parseNonbreakingPrefixes = (text: string): ReadonlyMap<string, NonbreakingKind> => {
  const out = new Map<string, NonbreakingKind>();
  for (const line of text.split('\n')) {
    const tok = line.split(TOKEN_DELIMS).filter((t) => t.length > 0);
    if (tok.length === 0 || tok[0].startsWith('#')) continue;
    out.set(tok[0], tok[1] === '#NUMERIC_ONLY#' ? 'numeric' : 'any');
  }
  return out;
};

/** Java's `String.split`-free whitespace tokenization (StringTokenizer). */
export const javaTokens = (s: string): string[] => s.split(TOKEN_DELIMS).filter((t) => t.length > 0);

/**
 * METEOR's English normalization of one line (punctuation kept, not yet lowercased).
 * `prefixes` is the non-breaking prefix list; without it only the "next word is lower-case" rule
 * keeps a word-final dot attached.
 */
export const meteorNormalize = (line: string, prefixes: ReadonlyMap<string, NonbreakingKind> = new Map()): string => {
  let w = ` ${line} `;
  w = w.replace(R_SEP_OTHER, ' $1 ');
  w = w.replace(R_MULTI_DOT, ' DOTMULTI$1');
  while (w.includes('DOTMULTI.')) {
    w = w.replace(R_MULTI_DOT2, 'DOTDOTMULTI $1');
    w = w.replaceAll('DOTMULTI.', 'DOTDOTMULTI');
  }
  w = w.replace(R_COMMA, '$1 , $2').replace(R_COMMA2, '$1 , $2').replace(R_COMMA3, '$1 , $2');
  w = w.replace(R_QUOTE, "'").replace(R_QUOTE2, ' " ');
  w = w.replaceAll('\u2013', '-').replaceAll('--', '-');
  w = w.replace(R_RM_DASH, '$1 $2');
  w = w
    .replace(R_CONT_EN, "$1 ' $2")
    .replace(R_CONT_EN2, "$1 ' $2")
    .replace(R_CONT_EN3, "$1 ' $2")
    .replace(R_CONT_EN4, "$1 '$2")
    .replace(R_CONT_EN5, "$1 '$2");

  const words = javaTokens(w);
  let sb = '';
  words.forEach((word, i) => {
    if (word.length > 1 && word.endsWith('.')) {
      const pre = word.slice(0, -1);
      const kind = prefixes.get(pre);
      const next = words[i + 1];
      if (pre.includes('.') && R_NBP_LETTER.test(pre)) sb += word.replaceAll('.', '');
      else if (kind === 'any' || (next !== undefined && /^[a-z]/.test(next))) sb += word;
      else if (kind === 'numeric' && next !== undefined && /^[0-9]+/.test(next)) sb += word;
      else sb += `${pre} .`;
    } else sb += word;
    sb += ' ';
  });
  w = sb;
  while (w.includes('DOTDOTMULTI')) w = w.replaceAll('DOTDOTMULTI', 'DOTMULTI.');
  w = w.replaceAll('DOTMULTI', '.');
  return w.replace(R_WHITE, ' ').trim();
};
