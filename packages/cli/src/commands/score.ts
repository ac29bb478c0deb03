/**
 * `prefix-tune score`: corpus metrics of a hypothesis file against a reference file, in the
 * E2E challenge's plain-text format (e2e-metrics' `measure_scores.py REFS HYP`), each metric on
 * the scale of its official scorer.
 */
import * as E from 'fp-ts/lib/Either.js';
import {
  E2E_METRICS, MetricName, meteorNote, metricDescriptions, parseHypotheses, parseReferences, score, type MetricValue,
} from '@prefix-tuning/tasks';
import { UsageError, type Command } from '../cli.ts';
import { requireFile, utf8Text } from '../run/model.ts';

const readText = (path: string, what: string): string => {
  requireFile(path, what);
  return utf8Text(path);
};

const format = (name: string, v: MetricValue): string =>
  typeof v === 'number'
    ? `${name}: ${v.toFixed(4)}`
    : `${name}: ${Object.entries(v).map(([k, x]) => `${k} ${x.toFixed(4)}`).join('  ')}`;

export const scoreCommand: Command = {
  name: 'score',
  summary: 'score hypotheses against references (BLEU, NIST, METEOR, ROUGE, CIDEr, chrF, TER)',
  usage: [
    'prefix-tune score --refs REFS --hyp HYP [--metrics bleu,nist,...] [--json]',
    '',
    'METEOR is METEOR 1.5 exactly with its own data (prefix-tune fetch-meteor, or PREFIX_TUNING_METEOR_DATA);',
    'without it the figure is approximate and marked so.',
    '',
    'Metrics (each on the scale of its official scorer):',
    ...Object.entries(metricDescriptions).map(([k, v]) => `  ${k.padEnd(10)} ${v}`),
  ].join('\n'),
  options: [
    { name: 'refs', short: 'r', type: 'string', required: true,
      description: "references: one per line, each example's group separated by a blank line (no blank line: one reference per example)" },
    { name: 'hyp', short: 'y', type: 'string', required: true, description: 'hypotheses: one line per example' },
    { name: 'metrics', short: 'm', type: 'list', default: E2E_METRICS.join(','),
      description: `comma-separated, of: ${Object.keys(MetricName.keys).join(', ')}` },
    { name: 'json', type: 'boolean', default: false, description: 'print one JSON object {metric: value} at full precision' },
  ],
  run: async (opts) => {
    const refsPath = String(opts['refs']), hypPath = String(opts['hyp']);
    const raw = opts['metrics'];
    const names = Array.isArray(raw) ? raw.map(String) : String(raw).split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (names.length === 0) throw new UsageError('--metrics lists no metric');
    for (const n of names)
      if (!MetricName.is(n)) throw new UsageError(`unknown metric '${n}' (known: ${Object.keys(MetricName.keys).join(', ')})`);
    const refs = parseReferences(readText(refsPath, 'references'), refsPath);
    if (E.isLeft(refs)) throw new UsageError(refs.left);
    const hyps = parseHypotheses(readText(hypPath, 'hypotheses'));
    if (refs.right.length !== hyps.length)
      throw new UsageError(
        `${refsPath} has ${refs.right.length} reference group(s) but ${hypPath} has ${hyps.length} line(s)` +
          (refs.right.every((g) => g.length === 1) ? ' (a references file without blank lines holds one reference per example)' : ''),
      );
    const r = score(refs.right, hyps, names);
    if (E.isLeft(r)) {
      console.error(`prefix-tune score: ${r.left}`);
      return 1;
    }
    // METEOR without METEOR 1.5's own data is an approximation: said beside the figure (--json: on stderr)
    const note = names.includes('meteor') ? meteorNote() : null;
    if (opts['json'] === true) {
      console.log(JSON.stringify(r.right));
      if (note !== null) console.error(`note: METEOR (${note})`);
    } else {
      console.log(`${hyps.length} examples, ${refs.right.reduce((a, g) => a + g.length, 0)} references`);
      for (const n of names) console.log(`${format(n, r.right[n as MetricName]!)}${n === 'meteor' && note !== null ? ` (${note})` : ''}`);
    }
    return 0;
  },
};
