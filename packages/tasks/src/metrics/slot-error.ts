/**
 * Slot error rate for E2E-style meaning representations: the share of the input's slot values
 * that the output leaves out or contradicts. A simple, documented pattern matcher (no learned
 * model), in the spirit of the slot-error scripts used with the E2E challenge:
 *
 * - The text is lower-cased, `center` read as `centre`, and the MR's own `name` and `near`
 *   values are removed before the categorical slots are matched (so `Raja Indian Cuisine` is
 *   not Indian food).
 * - `name`, `near`: realised when the value occurs in the text (case-insensitive, any spacing);
 *   never counted as contradicted.
 * - `eatType`, `food`, `area`: each value has a list of surface forms; realised when one of its
 *   forms occurs, contradicted when none does but a form of another value of the slot does,
 *   missing otherwise.
 * - `priceRange`, `customer rating`: values fall into three classes (low, middle, high: `cheap`
 *   and `less than £20` are both low). A form of the value's own class realises it; a form of
 *   another class contradicts it. Rating words only count within four words of `rating`,
 *   `rated`, `stars`, `reviews` (so `low prices` is not a low rating).
 * - `familyFriendly`: a negated family phrase (`not family-friendly`, `no children`, `adults
 *   only`) realises `no` and contradicts `yes`; a plain one realises `yes` and contradicts `no`.
 * - Any other key is realised when its value occurs in the text.
 *
 * The rate is (missing + contradicted) / slots over the whole corpus.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { MRAttribute } from '../data/codecs.ts';
import { parseLinearisedE2E } from '../data/linearise.ts';

/** What became of one slot of the input in the output. */
export type SlotOutcome = 'realised' | 'missing' | 'contradicted';

/** One slot's verdict. */
export interface SlotVerdict {
  readonly key: string;
  readonly value: string;
  readonly outcome: SlotOutcome;
}

/** The corpus figures: counts and the rate, overall and per slot key. */
export interface SlotErrorReport {
  readonly slots: number;
  readonly missing: number;
  readonly contradicted: number;
  /** (missing + contradicted) / slots; 0 for no slots. */
  readonly rate: number;
  readonly byKey: Readonly<Record<string, { readonly slots: number; readonly missing: number; readonly contradicted: number }>>;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A value as a pattern: case-insensitive, any run of spaces between its words, `£ 20` = `£20`. */
const literal = (v: string): RegExp =>
  new RegExp(`(^|[^a-z0-9])${v.toLowerCase().trim().split(/\s+/).map(escapeRe).join('\\s*').replace(/£/g, '£\\s*')}($|[^a-z0-9])`);

const normalise = (s: string): string => ` ${s.toLowerCase().replace(/\bcenter\b/g, 'centre').replace(/\s+/g, ' ')} `;

const forms = (...res: RegExp[]): readonly RegExp[] => res;
const any = (text: string, res: readonly RegExp[]): boolean => res.some((r) => r.test(text));

/** Surface forms of the values of the plain categorical slots. */
const CATEGORICAL: Readonly<Record<string, Readonly<Record<string, readonly RegExp[]>>>> = {
  eatType: {
    pub: forms(/\bpubs?\b/),
    'coffee shop': forms(/\bcoffee\s*-?\s*(shop|house)s?\b/, /\bcafé\b/, /\bcafe\b/),
    restaurant: forms(/\brestaurants?\b/, /\beatery\b/, /\bdiner\b/),
  },
  food: {
    English: forms(/\benglish\b/, /\bbritish\b/),
    Japanese: forms(/\bjapanese\b/, /\bsushi\b/),
    French: forms(/\bfrench\b/),
    'Fast food': forms(/\bfast\s*-?\s*food\b/, /\bburgers?\b/),
    Italian: forms(/\bitalian\b/, /\bpizza\b/, /\bpasta\b/),
    Indian: forms(/\bindian\b/, /\bcurry\b/),
    Chinese: forms(/\bchinese\b/),
  },
  area: {
    riverside: forms(/\briver\s*-?\s*side\b/, /\bby the river\b/, /\bnear the river\b/, /\bon the river\b/, /\briver\b/),
    'city centre': forms(/\bcity\s*centre\b/, /\bcentre of (the )?(city|town)\b/, /\btown\s*centre\b/, /\bdowntown\b/, /\bcentre\b/),
  },
};

type Level = 'low' | 'mid' | 'high';
const PRICE_CLASS: Readonly<Record<string, Level>> = {
  cheap: 'low', 'less than £20': 'low', moderate: 'mid', '£20-25': 'mid', high: 'high', 'more than £30': 'high',
};
const PRICE_FORMS: Readonly<Record<Level, readonly RegExp[]>> = {
  low: forms(/\bcheap(ly|er|est)?\b/, /\binexpensive\b/, /\blow\s*-?\s*(cost|price[sd]?|pric(e|ing) range)\b/, /\baffordabl[ey]\b/, /\bbudget\b/,
    /\b(less|lower) than £\s*20\b/, /\bunder £\s*20\b/, /\bbelow £\s*20\b/),
  mid: forms(/\bmoderate(ly)?\b/, /\bmid\s*-?\s*(range|price[sd]?)\b/, /\baverage(ly)?\s*-?\s*price[sd]?\b/, /\breasonabl[ey]\b/,
    /£\s*20\s*(-|to|and)\s*(£\s*)?25\b/, /\b20\s*-\s*25\b/),
  high: forms(/\bexpensive\b/, /\bpricey\b/, /\bcostly\b/, /\bhigh\s*-?\s*(end|cost|price[sd]?|pric(e|ing) range)\b/, /\bupscale\b/,
    /\b(more|higher) than £\s*30\b/, /\bover £\s*30\b/, /\babove £\s*30\b/),
};
const RATING_CLASS: Readonly<Record<string, Level>> = {
  low: 'low', '1 out of 5': 'low', average: 'mid', '3 out of 5': 'mid', high: 'high', '5 out of 5': 'high',
};
const RATING_WORDS: readonly RegExp[] = forms(/\b(1|one)\s*(out\s*)?of\s*(5|five)\b/, /\b(1|one)\s*-?\s*stars?\b/);
const RATING_FORMS: Readonly<Record<Level, readonly string[]>> = {
  low: ['low', 'lowly', 'poor', 'poorly', 'bad', 'badly'],
  mid: ['average', 'mediocre', 'moderate', 'moderately', 'okay', 'ok', 'decent'],
  high: ['high', 'highly', 'excellent', 'great', 'good', 'top'],
};
const RATING_NUMERIC: Readonly<Record<Level, readonly RegExp[]>> = {
  low: RATING_WORDS,
  mid: forms(/\b(3|three)\s*(out\s*)?of\s*(5|five)\b/, /\b(3|three)\s*-?\s*stars?\b/),
  high: forms(/\b(5|five)\s*(out\s*)?of\s*(5|five)\b/, /\b(5|five)\s*-?\s*stars?\b/),
};
const RATING_ANCHOR = /^(rating|ratings|rated|rate|stars?|reviews?|reviewed|score)$/;

/** Whether a word of `level` stands within 4 words of a rating word. */
const ratingNear = (text: string, level: Level): boolean => {
  if (any(text, RATING_NUMERIC[level])) return true;
  const words = text.split(/[^a-z0-9'-]+/).filter((w) => w.length > 0);
  const want = new Set(RATING_FORMS[level]);
  return words.some((w, i) => want.has(w) && words.slice(Math.max(0, i - 4), i + 5).some((x) => RATING_ANCHOR.test(x)));
};

const FAMILY = /\b(family|families|kids?|child(ren)?)\b/;
const FAMILY_NEGATED = forms(
  /\b(not|isn't|isnt|is not|aren't|never|non)\s*-?\s*(\w+\s+){0,3}?(family|families|kids?|child(ren)?)\b/,
  /\bno\s+(kids|children|families)\b/, /\badults?\s*-?\s*only\b/, /\bunfriendly to (kids|children|families)\b/,
  /\b(family|kids?|child(ren)?)\s*-?\s*unfriendly\b/, /\b(not|no) (suitable|good|ideal|recommended) for (kids|children|families)\b/,
  /\b(families|kids|children)\s+(are not|aren't|not)\s+(allowed|welcome|permitted)\b/, /\badults?\b/,
);

const leveled = (level: Level | undefined, found: (l: Level) => boolean): SlotOutcome => {
  if (level === undefined) return 'missing';
  if (found(level)) return 'realised';
  return (['low', 'mid', 'high'] as const).some((l) => l !== level && found(l)) ? 'contradicted' : 'missing';
};

/** The verdict for each slot of one meaning representation against one output. */
export const slotVerdicts = (mr: readonly MRAttribute[], output: string): readonly SlotVerdict[] => {
  const full = normalise(output);
  // categorical slots are matched with the MR's own entity names taken out
  let text = full;
  for (const a of mr) if (a.key === 'name' || a.key === 'near') text = text.replace(new RegExp(literal(a.value).source, 'g'), ' ');
  return mr.map(({ key, value }): SlotVerdict => {
    const outcome = ((): SlotOutcome => {
      const cat = CATEGORICAL[key];
      if (cat !== undefined && cat[value] !== undefined) {
        if (any(text, cat[value]!)) return 'realised';
        return Object.entries(cat).some(([v, res]) => v !== value && any(text, res)) ? 'contradicted' : 'missing';
      }
      if (key === 'priceRange') return leveled(PRICE_CLASS[value], (l) => any(text, PRICE_FORMS[l]));
      if (key === 'customer rating') return leveled(RATING_CLASS[value], (l) => ratingNear(text, l));
      if (key === 'familyFriendly' && (value === 'yes' || value === 'no')) {
        const negated = any(text, FAMILY_NEGATED);
        const plain = FAMILY.test(text);
        if (value === 'no') return negated ? 'realised' : plain ? 'contradicted' : 'missing';
        return negated ? 'contradicted' : plain ? 'realised' : 'missing';
      }
      return literal(value).test(full) ? 'realised' : 'missing';
    })();
    return { key, value, outcome };
  });
};

/** The slot error rate of `outputs[i]` against `mrs[i]`, over the corpus. */
export const slotErrorRate = (mrs: readonly (readonly MRAttribute[])[], outputs: readonly string[]): SlotErrorReport => {
  if (mrs.length !== outputs.length) throw new Error(`slotErrorRate: ${mrs.length} inputs but ${outputs.length} outputs`);
  const byKey: Record<string, { slots: number; missing: number; contradicted: number }> = {};
  let slots = 0, missing = 0, contradicted = 0;
  mrs.forEach((mr, i) => {
    for (const v of slotVerdicts(mr, outputs[i]!)) {
      const k = (byKey[v.key] ??= { slots: 0, missing: 0, contradicted: 0 });
      k.slots += 1;
      slots += 1;
      if (v.outcome === 'missing') { k.missing += 1; missing += 1; }
      if (v.outcome === 'contradicted') { k.contradicted += 1; contradicted += 1; }
    }
  });
  return { slots, missing, contradicted, rate: slots === 0 ? 0 : (missing + contradicted) / slots, byKey };
};

/** {@link slotErrorRate} over E2E sources in the official linearisation (`name : X | Type : pub`). */
export const slotErrorRateOfSources = (sources: readonly string[], outputs: readonly string[]): SlotErrorReport =>
  slotErrorRate(
    sources.map((s) => {
      const mr = parseLinearisedE2E(s);
      if (E.isLeft(mr)) throw new Error(`slot error rate: source ${JSON.stringify(s.slice(0, 80))} is not an E2E linearisation: ${mr.left}`);
      return mr.right;
    }),
    outputs,
  );
