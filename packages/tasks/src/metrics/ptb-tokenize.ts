/**
 * The caption tokenizer of pycocoevalcap (`tokenizer/ptbtokenizer.py`): Stanford CoreNLP 3.4.1
 * `PTBTokenizer -preserveLines -lowerCase`, then removal of the punctuation tokens listed in
 * `PUNCTUATIONS`. E2E's `measure_scores.py` runs it on references and outputs before METEOR,
 * ROUGE-L and CIDEr.
 *
 * This is a longest-match lexer written from the PTBLexer rules that matter for English prose:
 * words with clitics (`it 's`, `do n't`, `can not`), hyphenated and slashed compounds, numbers,
 * currency (`£` becomes `#`, as in PTB3), quotes (`` `` `` / `''`), brackets (`-LRB-`), dashes,
 * ellipses, abbreviations and acronyms (`st.`, `u.s.`), e-mail addresses and URLs. Ties between
 * equally long matches go to the earlier rule, as in JFlex; a rule with trailing context counts
 * the context in its length. Not reproduced: SGML entities other than `&amp;`, phone numbers,
 * character-class subtleties of JFlex's `%caseless` and the CoreNLP quirk that turns a line break
 * inside a caption (`\r`, U+2028, ...) into a new line and so shifts every later caption; here such
 * characters are plain spaces.
 */

/**
 * pycocoevalcap's `PUNCTUATIONS`, dropped after tokenization. They are compared with the
 * lowercased tokens, so the bracket entries never match: `-lrb-` and `-rrb-` stay in captions.
 */
export const COCO_PUNCTUATIONS: ReadonlySet<string> = new Set([
  "''", "'", '``', '`', '-LRB-', '-RRB-', '-LCB-', '-RCB-',
  '.', '?', '!', ',', ':', '-', '--', '...', ';',
]);

type Action = (text: string) => readonly string[];

/**
 * JFlex `%caseless` for a regex source: every ASCII letter outside a character class matches
 * both cases (`Inc` becomes `[iI][nN][cC]`); classes and escapes are kept as written.
 */
const ci = (source: string): string => {
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') {
      const next = source[i + 1] ?? '';
      let len = 2;
      if (next === 'p' || next === 'P') len = source.indexOf('}', i) - i + 1;
      else if (next === 'u') len = 6;
      else if (next === 'x') len = 4;
      out += source.slice(i, i + len);
      i += len - 1;
    } else if (c === '[') {
      let j = i + 1;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j;
    } else if (/[a-zA-Z]/.test(c) && !(source[i - 1] === '?' && source[i - 2] === '(')) {
      out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
    } else {
      out += c;
    }
  }
  return out;
};

interface Rule {
  readonly name: string;
  /** the token itself */
  readonly head: string;
  /** trailing context (JFlex `head/tail`): must follow, counts for the longest match, not consumed */
  readonly tail?: string;
  /** tokens emitted for the matched head; an empty list deletes it */
  readonly emit: Action;
  /** characters of the head consumed (default: all) — JFlex's `yypushback` */
  readonly consume?: (text: string) => number;
}

const LETTER = '\\p{L}\\p{M}';
const DIGIT = '\\p{Nd}';
const APOS = "(?:['\\u0092\\u2019]|&apos;)";
const APOSETC = "(?:['\\u0092\\u2019\\u0091\\u2018\\u201B]|&apos;)";
const SPACE = '[ \\t\\u00A0\\u2000-\\u200A\\u3000]';
const WORD = `[${LETTER}\\u00AD]+`;
const THING_PART = `(?:[dDoOlL]${APOSETC}[${LETTER}${DIGIT}])?[${LETTER}${DIGIT}]+`;
const THING = `${THING_PART}(?:[-_\\u058A\\u2010\\u2011]${THING_PART})*`;
const ACRO = '(?:[A-Za-z](?:\\.[A-Za-z])+|(?:Canada|Sino|Korean|EU|Japan|non)-U\\.S|U\\.S\\.-(?:U\\.K|U\\.S\\.S\\.R))';
const HTHING = `[A-Za-z0-9][A-Za-z0-9.,\\u00AD]*(?:-(?:[A-Za-z0-9\\u00AD]+|${ACRO}\\.))+`;
const NUM = `(?:${DIGIT}*(?:[.:,\\u00AD\\u066B\\u066C]${DIGIT}+)+|${DIGIT}+)`;
const REDAUX = `${APOS}(?:[msd]|re|ve|ll)`;
const ABMONTH = 'Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec';
const ABDAYS = 'Mon|Tue|Tues|Wed|Thu|Thurs|Fri';
const ABSTATE =
  'Ala|Ariz|Ark|Calif|Colo|Conn|Dak|Del|Fla|Ga|Ill|Ind|Kans?|Ky|La|Mass|Md|Mich|Minn|Miss|Mo|Mont|Neb|Nev|Okla|Ore|Pa|Penn|Tenn|Tex|Va|Vt|Wash|Wisc?|Wyo';
const ABCOMP = 'Inc|Cos?|Corp|Pp?tys?|Ltd|Plc|Bancorp|Dept|Bhd|Assn|Univ|Intl|Sys';
const ABNUM = 'Nos?|Prop|Ph|tel|est|ext|sq|ft';
const ABPTIT = 'Jr|Sr|Bros|(?:Ed|Ph)\\.D|Blvd|Rd|Esq';
const ABBREV1 = `(?:${ABMONTH}|${ABDAYS}|${ABSTATE}|${ABCOMP}|${ABPTIT}|etc|al|seq)\\.`;
const ABTITLE =
  'Mr|Mrs|Ms|Miss|Drs?|Profs?|Sens?|Reps?|Attys?|Lt|Col|Gen|Messrs|Govs?|Adm|Rev|Maj|Sgt|Cpl|Pvt|Mt|Capt|Ste?|Ave|Pres|Lieut|Hon|Brig|Co?mdr|Pfc|Spc|Supts?|Det';
const ABBREV4 = `(?:${ABTITLE}|vs|Alex|Wm|Jos|Cie|a\\.k\\.a|cf|TREAS|${ACRO}|Invt|Elec|Natl|M[ft]g|[A-Za-z])`;
const SENT_FOLLOW_WORDS =
  'About|According|Additionally|After|An|A|As|At|But|Earlier|He|Her|Here|However|If|In|It|Last|Many|More|Mr\\.|Ms\\.|Now|Once|One|Other|Our|She|Since|So|Some|Such|That|The|Then|There|These|They|This|We|When|While|What|Yet|You';
// the first letter is case-sensitive in CoreNLP ("[T]he"), the rest caseless
const SENT_FOLLOW = SENT_FOLLOW_WORDS.split('|')
  .map((w) => w[0] + ci(w.slice(1)))
  .join('|');
const APOWORD = [
  `${APOS}n${APOS}?`,
  `[lLdDjJ]${APOS}`,
  `Dunkin${APOS}`,
  `somethin${APOS}`,
  `ol${APOS}`,
  `${APOS}em`,
  `[A-HJ-XZnN]${APOSETC}[${LETTER}]{2}[${LETTER}]*`,
  `${APOS}[2-9]0s`,
  `${APOS}till?`,
  `[${LETTER}]+[aeiouyAEIOUY]${APOSETC}[aeiouA-Z][${LETTER}]*`,
  `${APOS}cause`,
  "cont'd\\.?",
  "'twas",
  "nor'easter",
  "c'mon",
  "e'er",
  "s'mores",
  "ev'ry",
  "li'l",
  "nat'l",
].join('|');
const MISCSYMBOL =
  '[¦\\u00A7¨\\u00A9\\u00AC\\u00AE¯\\u00B0-\\u00B3\\u00B4-\\u00BA\\u00D7\\u00F7\\u0387\\u2020-\\u2023\\u2032-\\u2038\\u2044\\u207A-\\u207F\\u208A-\\u208E\\u2100-\\u214F\\u2190-\\u21FF\\u2200-\\u22FF\\u2600-\\u26FF\\u3012\\u30FB\\uFF01-\\uFF0F\\uFF1A-\\uFF20\\uFF3B-\\uFF40\\uFF5B-\\uFF65]';

const NEWLINE = '(?:\\r\\n|[\\r\\n\\u2028\\u2029\\u000B\\u000C\\u0085])';
const SPACENL = `(?:${SPACE}|${NEWLINE})`;

const same: Action = (t) => [t];
const fixed =
  (s: string): Action =>
  () => [s];
const dropSoftHyphens: Action = (t) => [t.replace(/\u00AD/g, '')];
const dropAmpEntity: Action = (t) => [t.replace(/&amp;/gi, '&')];

/** CoreNLP's latex-quote mapping for a quote token; `left` = probably an opening quote. */
const latexQuotes = (tok: string, left: boolean): string =>
  (left
    ? tok.replace(/&apos;|'/g, '`').replace(/"|&quot;/g, '``')
    : tok.replace(/&apos;|'/g, "'").replace(/"|&quot;/g, "''")
  )
    .replace(/[\u0091\u2018\u201B\u2039]/g, '`')
    .replace(/[\u0092\u2019\u203A]/g, "'")
    .replace(/[\u0093\u201C\u00AB]/g, '``')
    .replace(/[\u0094\u201D\u00BB]/g, "''");
const quoteLeft: Action = (t) => [latexQuotes(t, true)];
const quoteRight: Action = (t) => [latexQuotes(t, false)];

const currency: Action = (t) => [
  t
    .replace(/\u00A2/g, 'cents')
    .replace(/\u00A3/g, '#')
    .replace(/[\u0080\u00A4\u20A0\u20AC]/g, '$'),
];

// Rule order follows PTBLexer.flex: on equal match length the earlier rule wins. The rules about
// sentence ends after abbreviations were fitted to CoreNLP 3.4.1's observed behaviour.
const RULES: readonly Rule[] = [
  { name: 'cannot', head: ci('cannot'), emit: (t) => [t.slice(0, 3)], consume: () => 3 },
  { name: 'sgml', head: '<\\/?[A-Za-z!][^>]*>', emit: same },
  { name: 'spmdash', head: ci('&(?:MD|mdash|ndash);') + '|[\\u0096\\u0097\\u2013\\u2014\\u2015]', emit: fixed('--') },
  { name: 'spamp', head: ci('&amp;'), emit: fixed('&') },
  { name: 'sppunc', head: ci('&(?:HT|TL|UR|LR|QC|QL|QR|odq|cdq|#[0-9]+);'), emit: same },
  { name: 'word-redaux', head: WORD, tail: `(?:${APOS})(?:[mMsSdD]|[rR][eE]|[vV][eE]|[lL][lL])`, emit: dropSoftHyphens },
  { name: 'sword-sredaux', head: '[A-Za-z\\u00AD]*[A-MO-Za-mo-z]\\u00AD*', tail: `[nN]${APOSETC}[tT]`, emit: dropSoftHyphens },
  { name: 'word', head: WORD, emit: dropSoftHyphens },
  { name: 'apoword', head: APOWORD, emit: same },
  { name: 'apoword2', head: `[yY]${APOS}`, tail: `[${LETTER}]`, emit: same },
  { name: 'fullurl', head: ci('https?') + ':\\/\\/[^ \\t\\n\\f\\r"<>|()]+[^ \\t\\n\\f\\r"<>|.!?(){},-]', emit: same },
  {
    name: 'likelyurl',
    head: ci('(?:(?:www') + '\\.(?:[^ \\t\\n\\f\\r"<>|.!?(){},]+\\.)+[a-zA-Z]{2,4})|(?:(?:[^ \\t\\n\\f\\r"`\'<>|.!?(){},\\-_$]+\\.)+' + ci('(?:com|net|org|edu)') + '))(?:\\/[^ \\t\\n\\f\\r"<>|()]+[^ \\t\\n\\f\\r"<>|.!?(){},-])?',
    emit: same,
  },
  { name: 'email', head: '[a-zA-Z0-9][^ \\t\\n\\f\\r"<>|()\\u00A0]*@(?:[^ \\t\\n\\f\\r"<>|().\\u00A0]+\\.)+[a-zA-Z]{2,4}', emit: same },
  { name: 'redaux-nonletter', head: ci(REDAUX), tail: '[^A-Za-z]', emit: quoteRight },
  { name: 'sredaux', head: `[nN]${APOSETC}[tT]`, emit: quoteRight },
  { name: 'date', head: `${DIGIT}{1,2}[\\-\\/]${DIGIT}{1,2}[\\-\\/]${DIGIT}{2,4}`, emit: same },
  { name: 'number', head: `[\\-+]?${NUM}`, emit: dropSoftHyphens },
  { name: 'subsupnum', head: '[\\u207A\\u207B\\u208A\\u208B]?(?:[\\u2070\\u00B9\\u00B2\\u00B3\\u2074-\\u2079]+|[\\u2080-\\u2089]+)', emit: same },
  {
    name: 'frac',
    head: `(?:${DIGIT}{1,4}[- \\u00A0])?${DIGIT}{1,4}(?:\\\\?\\/|\\u2044)${DIGIT}{1,4}`,
    emit: (t) => [t.replace(/ /g, '\u00A0')],
  },
  {
    name: 'frac2',
    head: '[\\u00BC\\u00BD\\u00BE\\u2153-\\u215E]',
    emit: (t) => [t.replace(/\u00BC/g, '1/4').replace(/\u00BD/g, '1/2').replace(/\u00BE/g, '3/4').replace(/\u2153/g, '1/3')],
  },
  {
    name: 'tbspec',
    head: ci(`-(?:RRB|LRB|RCB|LCB|RSB|LSB)-|C\\.D\\.s|pro-|anti-|S(?:&|&amp;)P-500|S(?:&|&amp;)Ls|Cap${APOS}n|c${APOS}est`),
    emit: dropAmpEntity,
  },
  { name: 'thing3', head: '[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\\\?\\/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}', emit: same },
  { name: 'dolsign', head: '[A-Z]*\\$|#', emit: same },
  { name: 'dolsign2', head: '[\\u00A2\\u00A3\\u00A4\\u00A5\\u0080\\u20A0\\u20AC\\u060B\\u0E3F\\u20A4\\uFFE0\\uFFE1\\uFFE5\\uFFE6]', emit: currency },
  // "U.S. The ..." : the acronym keeps its dot and a sentence-final "." follows
  {
    name: 'acronym-sentend',
    head: ci(`${ACRO}\\.`),
    tail: `${SPACENL}+(?:${SENT_FOLLOW})${SPACENL}`,
    emit: same,
    consume: (t) => t.length - 1,
  },
  // "... price of L. There is ..." : a single letter loses its dot to the sentence end
  {
    name: 'letter-sentend',
    head: '[A-Za-z]',
    tail: `\\.${SPACENL}+(?:${SENT_FOLLOW})${SPACENL}`,
    emit: same,
  },
  // "etc." before a capitalised word or at the end of the text: "etc." and "."
  {
    name: 'abbrev1-sentend',
    head: ci(ABBREV1),
    tail: `${SPACENL}(?:${SPACENL}|[A-Z]|<\\/?[A-Za-z!][^>]*>)|$`,
    emit: same,
    consume: (t) => t.length - 1,
  },
  { name: 'abbrev1', head: ci(ABBREV1), emit: same },
  { name: 'abbrev3', head: ci(`(?:${ABNUM})\\.`), tail: `${SPACENL}*${DIGIT}`, emit: same },
  { name: 'abbrev2', head: ci(`${ABBREV4}\\.`), emit: same },
  { name: 'abbrev4', head: ci(ABBREV4), tail: SPACE, emit: same },
  { name: 'acro', head: ci(ACRO), tail: SPACENL, emit: same },
  { name: 'tbspec2', head: `${APOS}[0-9][0-9]`, tail: SPACENL, emit: same },
  { name: 'word-dot', head: `${WORD}\\.`, tail: '[,;:]', emit: dropSoftHyphens },
  {
    name: 'phone',
    head: '(?:\\([0-9]{3}\\)[ \\u00A0]?|[0-9]{3}[\\- \\u00A0.])[0-9]{3}[\\- \\u00A0.][0-9]{4}',
    emit: (t) => [t.replace(/ /g, '\u00A0').replace(/\(/g, '-LRB-').replace(/\)/g, '-RRB-')],
  },
  { name: 'dblquot-left', head: '"|&quot;', tail: '[A-Za-z0-9$]', emit: quoteLeft },
  { name: 'dblquot', head: '"|&quot;', emit: quoteRight },
  { name: 'plus', head: '\\+', emit: same },
  { name: 'percent', head: '[%&\\u2030\\u2031]', emit: same },
  { name: 'tilde', head: '~|\\^', emit: same },
  { name: 'bar', head: '\\||\\\\|\\u007f', emit: same },
  { name: 'opbrac', head: '[<\\[]|&lt;', emit: (t) => [t === '[' ? '-LSB-' : '-LRB-'] },
  { name: 'clbrac', head: '[>\\]]|&gt;', emit: (t) => [t === ']' ? '-RSB-' : '-RRB-'] },
  { name: 'lbrace', head: '\\{', emit: fixed('-LCB-') },
  { name: 'rbrace', head: '\\}', emit: fixed('-RCB-') },
  { name: 'lparen', head: '\\(', emit: fixed('-LRB-') },
  { name: 'rparen', head: '\\)', emit: fixed('-RRB-') },
  { name: 'hyphens', head: '-+', emit: (t) => [t.length >= 3 && t.length <= 4 ? '--' : t] },
  { name: 'ldots', head: '\\.{3,5}|(?:\\.[ \\u00A0]){2,4}\\.|[\\u0085\\u2026]', emit: fixed('...') },
  { name: 'fnmarks', head: '@+|#+|_+', emit: same },
  { name: 'asts', head: '\\*+|(?:\\\\\\*){1,3}', emit: same },
  { name: 'insentp', head: '[,;:]', emit: same },
  { name: 'qmark', head: '[?!]+', emit: same },
  { name: 'dot', head: '[.¡¿\\u037E\\u0589\\u061F\\u06D4\\u0700-\\u0702\\u07FA]', emit: same },
  { name: 'equals', head: '=', emit: same },
  { name: 'slash', head: '\\/', emit: same },
  { name: 'hthing-dot', head: ci(`${HTHING}\\.`), tail: '[,;:]', emit: dropSoftHyphens },
  { name: 'hthing', head: ci(HTHING), emit: dropSoftHyphens },
  { name: 'thing-dot', head: `${THING}\\.`, tail: '[,;:]', emit: same },
  { name: 'thing', head: THING, emit: same },
  { name: 'thinga-dot', head: '[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+\\.', tail: '[,;:]', emit: dropAmpEntity },
  { name: 'thinga', head: '[A-Z]+(?:(?:[+&]|&amp;)[A-Z]+)+', emit: dropAmpEntity },
  { name: 'quote-left', head: "'", tail: '[A-Za-z][^ \\t\\n\\r\\u00A0]', emit: quoteLeft },
  { name: 'redaux', head: ci(REDAUX), emit: quoteRight },
  {
    name: 'quotes',
    head: `${APOS}|''|[\`\\u2018\\u2019\\u201A\\u201B\\u201C\\u201D\\u0091\\u0092\\u0093\\u0094\\u201E\\u201F\\u2039\\u203A\\u00AB\\u00BB]{1,2}`,
    emit: quoteRight,
  },
  { name: 'miscsymbol', head: MISCSYMBOL, emit: same },
];

interface Compiled {
  readonly rule: Rule;
  /** sticky `(head)(tail)` */
  readonly re: RegExp;
}

const COMPILED: readonly Compiled[] = RULES.map((rule) => ({
  rule,
  re: new RegExp(`(${rule.head})(?:${rule.tail ?? ''})`, 'yu'),
}));

const SKIP = /[\0 \t\u00A0\u2000-\u200B\u200E\u200F\u3000\uFEFF]+/y;
const NEWLINE_RE = new RegExp(NEWLINE, 'y');

/** Longest match at `pos` (ties: earlier rule); undefined when no rule matches. */
const matchAt = (s: string, pos: number): { rule: Rule; text: string } | undefined => {
  let best: { rule: Rule; text: string; total: number } | undefined;
  for (const c of COMPILED) {
    c.re.lastIndex = pos;
    const m = c.re.exec(s);
    if (m === null || m[1].length === 0) continue;
    if (best === undefined || m[0].length > best.total) best = { rule: c.rule, text: m[1], total: m[0].length };
  }
  return best;
};

/** PTB tokens of a text; `null` marks a line break (CoreNLP's `tokenizeNLs`). */
const lex = (text: string): readonly (string | null)[] => {
  const out: (string | null)[] = [];
  let pos = 0;
  while (pos < text.length) {
    SKIP.lastIndex = pos;
    const sp = SKIP.exec(text);
    if (sp !== null) {
      pos += sp[0].length;
      continue;
    }
    NEWLINE_RE.lastIndex = pos;
    const nl = NEWLINE_RE.exec(text);
    if (nl !== null) {
      out.push(null);
      pos += nl[0].length;
      continue;
    }
    const m = matchAt(text, pos);
    if (m === undefined) {
      // untokenizable character: CoreNLP's default `firstDelete` drops it
      pos += String.fromCodePoint(text.codePointAt(pos) ?? 0).length;
      continue;
    }
    out.push(...m.rule.emit(m.text));
    pos += m.rule.consume?.(m.text) ?? m.text.length;
  }
  return out;
};

// Line breaks other than the ones we join with would start new lines in CoreNLP (and shift every
// later caption in pycocoevalcap); here they are spaces.
const OTHER_BREAKS = /[\r\n\u2028\u2029\u000B\u000C\u0085]/g;

/**
 * PTB tokens (original case, nothing removed) of each caption, tokenized as pycocoevalcap does:
 * all captions joined by line breaks into one text, so the sentence-end rules for abbreviations
 * see the start of the next caption.
 */
export const ptbTokenLines = (captions: readonly string[]): readonly (readonly string[])[] => {
  const lines: string[][] = [[]];
  for (const tok of lex(captions.map((c) => c.replace(OTHER_BREAKS, ' ')).join('\n'))) {
    if (tok === null) lines.push([]);
    else lines[lines.length - 1].push(tok);
  }
  while (lines.length < captions.length) lines.push([]);
  return lines.slice(0, captions.length);
};

/** PTB tokens of one caption (original case, nothing removed; `-LRB-` etc. as CoreNLP writes them). */
export const ptbTokens = (caption: string): readonly string[] => ptbTokenLines([caption])[0];

const cocoCaption = (tokens: readonly string[]): string =>
  tokens
    .map((t) => t.toLowerCase())
    .filter((t) => !COCO_PUNCTUATIONS.has(t))
    .join(' ');

/**
 * Captions as pycocoevalcap's `PTBTokenizer.tokenize` returns them, in the same order: PTB tokens,
 * lowercased, without the tokens in {@link COCO_PUNCTUATIONS}, joined by single spaces. Pass all
 * captions of one call together (references of all segments, or all hypotheses) to reproduce the
 * official output exactly.
 */
export const ptbTokenizeLines = (captions: readonly string[]): readonly string[] =>
  ptbTokenLines(captions).map(cocoCaption);

/** One caption through pycocoevalcap's tokenizer ({@link ptbTokenizeLines} of a single caption). */
export const ptbTokenize = (s: string): string => ptbTokenizeLines([s])[0];
