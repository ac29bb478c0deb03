/**
 * Dimensions: concrete (a non-negative integer) or symbolic (a polynomial with integer
 * coefficients over named sizes such as `B`, `T`, `P`). Symbolic dims let one graph serve
 * every batch size, sequence length and prefix length: `concat` along the sequence axis of a
 * prefix of length `P` and tokens of length `T` has length `P+T`; reshaping `[B,T,768]` to
 * `[B*T,768]` has a leading dim `B*T`.
 *
 * Representation: a `number` when concrete, otherwise a `Sym` whose canonical `key` decides
 * equality (`P+T` and `T+P` are the same dim).
 */

import { GraphError } from '../errors.ts';

/** A monomial's variables, sorted, joined by `*` (empty string for the constant term). */
type Monomial = string;

/** A symbolic dimension: sum of `coef * monomial` terms, kept canonical. */
export interface Sym {
  readonly kind: 'sym';
  /** Canonical printed form, e.g. `B*T`, `P+T`, `T-1`. Two dims are equal iff keys are equal. */
  readonly key: string;
  readonly terms: ReadonlyMap<Monomial, number>;
}

export type Dim = number | Sym;

const monoVars = (m: Monomial): string[] => (m === '' ? [] : m.split('*'));
const monoOf = (vars: readonly string[]): Monomial => [...vars].sort().join('*');

const printTerms = (terms: ReadonlyMap<Monomial, number>): string => {
  const entries = [...terms.entries()].sort(([a], [b]) => {
    // constant last, then by degree, then alphabetically
    if (a === '') return 1;
    if (b === '') return -1;
    const da = monoVars(a).length;
    const db = monoVars(b).length;
    return da !== db ? db - da : a < b ? -1 : a > b ? 1 : 0;
  });
  let out = '';
  for (const [m, c] of entries) {
    const abs = Math.abs(c);
    const body = m === '' ? String(abs) : abs === 1 ? m : `${abs}*${m}`;
    out += out === '' ? (c < 0 ? `-${body}` : body) : c < 0 ? `-${body}` : `+${body}`;
  }
  return out === '' ? '0' : out;
};

const fromTerms = (terms: Map<Monomial, number>): Dim => {
  for (const [m, c] of [...terms]) if (c === 0) terms.delete(m);
  if (terms.size === 0) return 0;
  if (terms.size === 1 && terms.has('')) return terms.get('')!;
  return { kind: 'sym', key: printTerms(terms), terms };
};

const termsOf = (d: Dim): Map<Monomial, number> =>
  typeof d === 'number' ? new Map(d === 0 ? [] : [['', d]]) : new Map(d.terms);

/** A named symbolic size, e.g. `sym('B')`. Names are identifiers (letters, digits, `_`). */
export const sym = (name: string): Dim => {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new GraphError('dim', '', `invalid dim name '${name}'`);
  return fromTerms(new Map([[name, 1]]));
};

export const isConcrete = (d: Dim): d is number => typeof d === 'number';

export const dimEq = (a: Dim, b: Dim): boolean =>
  typeof a === 'number' || typeof b === 'number' ? a === b : a.key === b.key;

export const dimToString = (d: Dim): string => (typeof d === 'number' ? String(d) : d.key);

export const dimAdd = (a: Dim, b: Dim): Dim => {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  const t = termsOf(a);
  for (const [m, c] of termsOf(b)) t.set(m, (t.get(m) ?? 0) + c);
  return fromTerms(t);
};

export const dimNeg = (a: Dim): Dim => {
  if (typeof a === 'number') return -a;
  return fromTerms(new Map([...a.terms].map(([m, c]) => [m, -c])));
};

export const dimSub = (a: Dim, b: Dim): Dim => dimAdd(a, dimNeg(b));

export const dimMul = (a: Dim, b: Dim): Dim => {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  const t = new Map<Monomial, number>();
  for (const [ma, ca] of termsOf(a))
    for (const [mb, cb] of termsOf(b)) {
      const m = monoOf([...monoVars(ma), ...monoVars(mb)]);
      t.set(m, (t.get(m) ?? 0) + ca * cb);
    }
  return fromTerms(t);
};

/** Product of dims (1 for none). */
export const dimProd = (ds: readonly Dim[]): Dim => ds.reduce<Dim>((p, d) => dimMul(p, d), 1);

/**
 * Exact division `a / b` when the result is a polynomial with integer coefficients and `b`
 * is a constant or a single monomial (enough for reshape's `-1` inference); `undefined`
 * otherwise.
 */
export const dimDiv = (a: Dim, b: Dim): Dim | undefined => {
  if (typeof b === 'number') {
    if (b === 0) return undefined;
    const t = new Map<Monomial, number>();
    for (const [m, c] of termsOf(a)) {
      if (c % b !== 0) return undefined;
      t.set(m, c / b);
    }
    return fromTerms(t);
  }
  if (b.terms.size !== 1) return dimEq(a, b) ? 1 : undefined;
  const [[mb, cb]] = [...b.terms];
  const bv = monoVars(mb!);
  const t = new Map<Monomial, number>();
  for (const [m, c] of termsOf(a)) {
    const vars = monoVars(m);
    for (const v of bv) {
      const i = vars.indexOf(v);
      if (i < 0) return undefined;
      vars.splice(i, 1);
    }
    if (c % cb! !== 0) return undefined;
    t.set(monoOf(vars), c / cb!);
  }
  return fromTerms(t);
};

/** The symbol names a dim mentions. */
export const dimSymbols = (d: Dim): string[] =>
  typeof d === 'number' ? [] : [...new Set([...d.terms.keys()].flatMap(monoVars))].sort();

/** `d` with each symbol renamed by `f` (e.g. `B*T` -> `B_1*T_1`); concrete dims are unchanged. */
export const dimRename = (d: Dim, f: (symbol: string) => string): Dim => {
  if (typeof d === 'number') return d;
  const t = new Map<Monomial, number>();
  for (const [m, c] of d.terms) {
    const k = monoOf(monoVars(m).map(f));
    t.set(k, (t.get(k) ?? 0) + c);
  }
  return fromTerms(t);
};

/** Evaluates a dim under an environment of symbol sizes; throws if a symbol is unbound. */
export const dimEval = (d: Dim, env: Readonly<Record<string, number>>): number => {
  if (typeof d === 'number') return d;
  let s = 0;
  for (const [m, c] of d.terms) {
    let p = c;
    for (const v of monoVars(m)) {
      const x = env[v];
      if (x === undefined) throw new Error(`unbound dimension '${v}' in ${d.key}`);
      p *= x;
    }
    s += p;
  }
  return s;
};

/**
 * Parses a printed dim (`768`, `B`, `B*T`, `P+T`, `T-1`, `2*T+1`). Returns undefined on
 * malformed text. `parseDim(dimToString(d))` equals `d`.
 */
export const parseDim = (s: string): Dim | undefined => {
  const text = s.replace(/\s+/g, '');
  if (/^-?\d+$/.test(text)) return Number(text);
  if (!/^[-+]?[A-Za-z0-9_*]+([-+][A-Za-z0-9_*]+)*$/.test(text)) return undefined;
  const t = new Map<Monomial, number>();
  for (const m of text.match(/[-+]?[^-+]+/g) ?? []) {
    const sign = m.startsWith('-') ? -1 : 1;
    const factors = m.replace(/^[-+]/, '').split('*');
    let coef = sign;
    const vars: string[] = [];
    for (const f of factors) {
      if (/^\d+$/.test(f)) coef *= Number(f);
      else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(f)) vars.push(f);
      else return undefined;
    }
    const mono = monoOf(vars);
    t.set(mono, (t.get(mono) ?? 0) + coef);
  }
  return fromTerms(t);
};
