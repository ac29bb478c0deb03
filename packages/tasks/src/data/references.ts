/**
 * Multi-reference evaluation: one input, all of its references. For E2E the pairs are grouped by
 * their source text (an MR repeats once per reference), exactly as the official generation script
 * does, so the E2E test set gives 630 inputs with 4,693 references; WebNLG and DART are grouped
 * by entry (one group per triple set).
 */
import type { DartEntry, Pair, RefGroup, WebNLGEntry } from './codecs.ts';
import { lineariseTriples, type TripleOptions } from './linearise.ts';

/** Groups pairs by source text, in order of first appearance; the group id is its first pair's id. */
export const groupBySource = (pairs: readonly Pick<Pair, 'id' | 'source' | 'target'>[]): RefGroup[] => {
  const index = new Map<string, { id: string; source: string; references: string[] }>();
  for (const p of pairs) {
    const g = index.get(p.source);
    if (g === undefined) index.set(p.source, { id: p.id, source: p.source, references: [p.target] });
    else g.references.push(p.target);
  }
  return [...index.values()];
};

/** One group per WebNLG entry: its linearised triples and all of its lexicalisations. */
export const webnlgGroups = (
  entries: readonly WebNLGEntry[],
  opts: TripleOptions = {},
  idPrefix = 'webnlg',
): RefGroup[] =>
  entries.map((e, i) => ({
    id: `${idPrefix}/${i}`,
    source: lineariseTriples(e.triples, 'webnlg', opts),
    references: e.lexes.map((l) => l.text),
  }));

/** One group per DART entry: its linearised triples and all of its annotations. */
export const dartGroups = (entries: readonly DartEntry[], idPrefix = 'dart'): RefGroup[] =>
  entries.map((e) => ({
    id: `${idPrefix}/${e.id}`,
    source: lineariseTriples(e.triples, 'dart'),
    references: e.annotations.map((a) => a.text),
  }));
