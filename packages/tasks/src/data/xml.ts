/**
 * A small, strict, non-validating XML parser for the data files of this project (WebNLG, DART):
 * elements, attributes, text, the five predefined entities and character references, comments,
 * CDATA, processing instructions and a DOCTYPE without an internal subset. Every element keeps
 * the line where it starts, so schema errors found later can be located. Namespaces are not
 * interpreted (a prefixed name is just a name).
 */
import * as E from 'fp-ts/lib/Either.js';

/** An element: name, attributes, children (elements and text) and its 1-based start line. */
export type XmlElement = {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XmlNode[];
  readonly line: number;
};
/** A child node: an element or a run of text (entities already decoded). */
export type XmlNode = XmlElement | string;
/** A syntax error and its line. */
export type XmlProblem = { readonly line: number; readonly reason: string };

const isNameStart = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58 || c >= 0xc0;
const isNameChar = (c: number): boolean =>
  isNameStart(c) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 0xb7;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

class XmlSyntaxError extends Error {
  constructor(
    readonly pos: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** Parses a document and returns its root element. */
export const parseXml = (text: string): E.Either<XmlProblem, XmlElement> => {
  // Line numbers are computed lazily from positions: one pass to index line starts.
  const lineStarts: number[] = [0];
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  const lineOf = (pos: number): number => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  try {
    return E.right(new Parser(text, lineOf).document());
  } catch (err) {
    if (err instanceof XmlSyntaxError) return E.left({ line: lineOf(err.pos), reason: err.reason });
    throw err;
  }
};

class Parser {
  private pos = 0;
  constructor(
    private readonly s: string,
    private readonly lineOf: (pos: number) => number,
  ) {}

  private fail(reason: string, at = this.pos): never {
    throw new XmlSyntaxError(at, reason);
  }

  private startsWith(lit: string): boolean {
    return this.s.startsWith(lit, this.pos);
  }

  private skipWs(): void {
    const s = this.s;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos += 1;
      else break;
    }
  }

  private skipPast(lit: string, what: string): void {
    const end = this.s.indexOf(lit, this.pos);
    if (end === -1) this.fail(`${what} is never closed`);
    this.pos = end + lit.length;
  }

  private name(): string {
    const s = this.s;
    const start = this.pos;
    if (start >= s.length || !isNameStart(s.charCodeAt(start))) {
      const c = s[start];
      this.fail(c === undefined ? 'unexpected end of file, expected a name' : `expected a name, got ${JSON.stringify(c)}`);
    }
    let i = start + 1;
    while (i < s.length && isNameChar(s.charCodeAt(i))) i += 1;
    this.pos = i;
    return s.slice(start, i);
  }

  /** Skips comments, PIs, DOCTYPE and whitespace outside the root element. */
  private misc(allowDoctype: boolean): void {
    for (;;) {
      this.skipWs();
      if (this.startsWith('<?')) this.skipPast('?>', 'processing instruction');
      else if (this.startsWith('<!--')) this.skipPast('-->', 'comment');
      else if (allowDoctype && this.startsWith('<!DOCTYPE')) {
        const end = this.s.indexOf('>', this.pos);
        const bracket = this.s.indexOf('[', this.pos);
        if (bracket !== -1 && (end === -1 || bracket < end)) this.fail('DOCTYPE internal subsets are not supported');
        if (end === -1) this.fail('DOCTYPE is never closed');
        this.pos = end + 1;
      } else return;
    }
  }

  document(): XmlElement {
    this.misc(true);
    if (this.pos >= this.s.length) this.fail('empty document: no root element');
    if (this.s[this.pos] !== '<') this.fail('text before the root element');
    const root = this.element();
    this.misc(false);
    if (this.pos < this.s.length) this.fail('content after the root element');
    return root;
  }

  private decode(raw: string, start: number): string {
    if (raw.indexOf('&') === -1) return raw;
    return raw.replace(/&([^;&\s]*);?/g, (whole, ent: string, off: number) => {
      if (!whole.endsWith(';')) this.fail(`unterminated entity reference "${whole}"`, start + off);
      if (ent.startsWith('#x') || ent.startsWith('#X')) {
        const cp = /^[0-9a-fA-F]+$/.test(ent.slice(2)) ? parseInt(ent.slice(2), 16) : NaN;
        if (!(cp >= 0 && cp <= 0x10ffff)) this.fail(`bad character reference "&${ent};"`, start + off);
        return String.fromCodePoint(cp);
      }
      if (ent.startsWith('#')) {
        const cp = /^[0-9]+$/.test(ent.slice(1)) ? parseInt(ent.slice(1), 10) : NaN;
        if (!(cp >= 0 && cp <= 0x10ffff)) this.fail(`bad character reference "&${ent};"`, start + off);
        return String.fromCodePoint(cp);
      }
      const v = PREDEFINED[ent];
      if (v === undefined) this.fail(`unknown entity "&${ent};"`, start + off);
      return v;
    });
  }

  private element(depth = 0): XmlElement {
    const open = this.pos;
    if (depth > 500) this.fail('elements nested more than 500 deep');
    this.pos += 1; // '<'
    const name = this.name();
    const attrs: Record<string, string> = Object.create(null);
    for (;;) {
      const before = this.pos;
      this.skipWs();
      if (this.startsWith('/>')) {
        this.pos += 2;
        return { name, attrs, children: [], line: this.lineOf(open) };
      }
      if (this.startsWith('>')) {
        this.pos += 1;
        break;
      }
      if (this.pos >= this.s.length) this.fail(`start tag <${name}> is never closed`, open);
      if (this.pos === before) this.fail(`expected whitespace, ">" or "/>" in <${name}>`);
      const key = this.name();
      this.skipWs();
      if (this.s[this.pos] !== '=') this.fail(`attribute "${key}" of <${name}> has no value`);
      this.pos += 1;
      this.skipWs();
      const q = this.s[this.pos];
      if (q !== '"' && q !== "'") this.fail(`attribute "${key}" of <${name}> must be quoted`);
      const end = this.s.indexOf(q, this.pos + 1);
      if (end === -1) this.fail(`attribute "${key}" of <${name}> is never closed`);
      const raw = this.s.slice(this.pos + 1, end);
      if (raw.includes('<')) this.fail(`"<" in the value of attribute "${key}"`);
      if (Object.prototype.hasOwnProperty.call(attrs, key)) this.fail(`duplicate attribute "${key}" in <${name}>`);
      attrs[key] = this.decode(raw, this.pos + 1);
      this.pos = end + 1;
    }
    const children: XmlNode[] = [];
    for (;;) {
      const lt = this.s.indexOf('<', this.pos);
      if (lt === -1) this.fail(`element <${name}> is never closed`, open);
      if (lt > this.pos) {
        const raw = this.s.slice(this.pos, lt);
        children.push(this.decode(raw, this.pos));
        this.pos = lt;
      }
      if (this.startsWith('</')) {
        this.pos += 2;
        const close = this.name();
        if (close !== name) this.fail(`</${close}> does not close <${name}> (opened at line ${this.lineOf(open)})`);
        this.skipWs();
        if (this.s[this.pos] !== '>') this.fail(`expected ">" after </${close}`);
        this.pos += 1;
        return { name, attrs, children: mergeText(children), line: this.lineOf(open) };
      }
      if (this.startsWith('<!--')) this.skipPast('-->', 'comment');
      else if (this.startsWith('<![CDATA[')) {
        const end = this.s.indexOf(']]>', this.pos);
        if (end === -1) this.fail('CDATA section is never closed');
        children.push(this.s.slice(this.pos + 9, end));
        this.pos = end + 3;
      } else if (this.startsWith('<?')) this.skipPast('?>', 'processing instruction');
      else if (isNameStart(this.s.charCodeAt(this.pos + 1))) children.push(this.element(depth + 1));
      else this.fail(`"<" not followed by a name in <${name}>`);
    }
  }
}

const mergeText = (nodes: XmlNode[]): XmlNode[] => {
  const out: XmlNode[] = [];
  for (const n of nodes) {
    const last = out[out.length - 1];
    if (typeof n === 'string' && typeof last === 'string') out[out.length - 1] = last + n;
    else out.push(n);
  }
  return out;
};

/** The child elements of `el` (optionally only those named `name`). */
export const childElements = (el: XmlElement, name?: string): XmlElement[] =>
  el.children.filter((c): c is XmlElement => typeof c !== 'string' && (name === undefined || c.name === name));

/** The concatenated text content of `el` and its descendants. */
export const textContent = (el: XmlElement): string =>
  el.children.map((c) => (typeof c === 'string' ? c : textContent(c))).join('');
