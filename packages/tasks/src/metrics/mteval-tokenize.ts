/**
 * The NIST mteval-v13a tokenization (the default, "western" one), in the two flavours that the
 * official scorers run:
 *
 * - {@link mtevalTokenize}: what the E2E challenge scorer (e2e-metrics, `mteval-v13a-sig.pl`)
 *   applies to each segment: whitespace runs collapsed (its SGML reader does this), entity
 *   references `&quot; &amp; &lt; &gt;` decoded, ASCII-only lowercasing, then the punctuation
 *   rules below.
 * - {@link tokenize13a}: sacreBLEU's `13a` tokenizer: the same rules, case preserved, applied to
 *   the line without its trailing whitespace.
 *
 * Whitespace is what each implementation's regex engine calls whitespace: Perl's Unicode `\s`
 * for mteval, Python's `str.split()` for sacreBLEU (they differ in U+001C..U+001F and U+0085),
 * never JavaScript's `\s` (which also matches U+FEFF).
 */

/** Perl's `\s` on character strings (Unicode White_Space), as a character class body. */
export const PERL_WS = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
/** Python's `str.isspace()` characters (what `str.split()`/`str.strip()` use), as a class body. */
export const PY_WS = '\\t\\n\\v\\f\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const perlWsRun = new RegExp(`[${PERL_WS}]+`, 'gu');
const perlWsEdges = new RegExp(`^[${PERL_WS}]+|[${PERL_WS}]+$`, 'gu');
const pyWs = new RegExp(`[${PY_WS}]+`, 'u');
const pyWsTrailing = new RegExp(`[${PY_WS}]+$`, 'u');

/** Splits like Python's `str.split()` with no argument: on whitespace runs, no empty fields. */
export const pySplit = (s: string): string[] => s.split(pyWs).filter((w) => w.length > 0);

/** Python's `str.rstrip()` with no argument. */
export const pyRstrip = (s: string): string => s.replace(pyWsTrailing, '');

/** Python's `str.strip()` with no argument. */
export const pyStrip = (s: string): string => pyRstrip(s).replace(new RegExp(`^[${PY_WS}]+`, 'u'), '');

// The language-dependent rules of mteval-v13a `tokenization` (identical in sacreBLEU's
// TokenizerRegexp). The first class is ASCII { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
// (not the apostrophe, the hyphen, the period or the comma).
const punctuation = /([{-~\[-` -&(-+:-@\/])/gu;
const periodCommaAfterNonDigit = /([^0-9])([.,])/gu;
const periodCommaBeforeNonDigit = /([.,])([^0-9])/gu;
const dashAfterDigit = /([0-9])(-)/gu;

const westernRules = (s: string): string =>
  s
    .replace(punctuation, ' $1 ')
    .replace(periodCommaAfterNonDigit, '$1 $2 ')
    .replace(periodCommaBeforeNonDigit, ' $1 $2')
    .replace(dashAfterDigit, '$1 $2 ');

const decodeEntities = (s: string): string =>
  s.replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>');

/** Perl's `tr/[A-Z]/[a-z]/`: ASCII letters only (so `É` stays `É`). */
const asciiLower = (s: string): string => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/**
 * mteval-v13a's default tokenization as the E2E scorer runs it; returns the tokens joined by
 * single spaces. `preserveCase` is mteval's `-c` (off in e2e-metrics).
 */
export const mtevalTokenize = (text: string, preserveCase = false): string => {
  let s = text.replace(perlWsRun, ' '); // the SGML reader: s/[\s\n\r]+/ /g
  s = s.replace(/<skipped>/g, '').replace(/-\n/g, '').replace(/\n/g, ' ');
  s = decodeEntities(s);
  s = ` ${s} `;
  if (!preserveCase) s = asciiLower(s);
  s = westernRules(s);
  return s.replace(perlWsRun, ' ').replace(perlWsEdges, '');
};

/** mteval tokens of a segment (see {@link mtevalTokenize}). */
export const mtevalTokens = (text: string, preserveCase = false): string[] => {
  const s = mtevalTokenize(text, preserveCase);
  return s === '' ? [] : s.split(' ');
};

/**
 * sacreBLEU's `13a` tokenizer on a line as `BLEU` preprocesses it (`line.rstrip()`, then
 * `Tokenizer13a`); returns the tokens joined by single spaces.
 */
export const tokenize13a = (line: string): string => {
  let s = pyRstrip(line).replace(/<skipped>/g, '').replace(/-\n/g, '').replace(/\n/g, ' ');
  if (s.includes('&')) s = decodeEntities(s);
  return pySplit(westernRules(` ${s} `)).join(' ');
};
