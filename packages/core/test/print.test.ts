/**
 * The text form: `parse(print(g))` gives back the very same nodes (hash-consing), printing is
 * a fixed point, a fresh process parses the text into an equivalent graph, and malformed text
 * is a Left that names the line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { type Graph, graph } from '../src/index.ts';
import {
  grad, input, mul, reduceSum, scalar, constant, add, withPath, atPath, printGraph, parseGraph, opNames, matmul, param
} from '../src/graph.ts';
import { cases } from './support/cases.ts';
import { buildGpt2 } from './support/gpt2.ts';

const sameGraph = (a: Graph, b: Graph): void => {
  assert.deepEqual(Object.keys(a.outputs), Object.keys(b.outputs));
  for (const k of Object.keys(a.outputs)) assert.equal(a.outputs[k], b.outputs[k], `output ${k} is not the same node`);
};
const roundTrip = (g: Graph): void => {
  const text = printGraph(g);
  const p = parseGraph(text);
  if (E.isLeft(p)) assert.fail(`${p.left.message}\n${text}`);
  sameGraph(p.right, g);
  assert.equal(printGraph(p.right), text);
};

test('parse(print(g)) = g for every op (random cases), with symbolic shapes and paths', () => {
  for (const op of opNames)
    fc.assert(fc.property(cases[op].gen, fc.constantFrom('', 'h[0].attn', 'layers[3].attn.q'), (c, path) => {
      const tagged = atPath(path, () => add(input(`pathed.${path}`, ['A', 2]), 1));
      assert.equal(tagged.path, path);
      roundTrip(graph({ out: c.out, tagged }));
    }), { numRuns: 15 });
});

test('parse(print(g)) = g for gradient graphs and a GPT-2 stack', () => {
  for (const op of opNames)
    fc.assert(fc.property(cases[op].gen, (c) => {
      if (c.diff.length === 0) return;
      const R = input('__ct', c.out.shape);
      const gs = grad(reduceSum(mul(c.out, R)), c.diff.map((n) => c.inputs[n]!));
      roundTrip(graph(Object.fromEntries(gs.map((g, i) => [`grad:${c.diff[i]}`, g]))));
    }), { numRuns: 5 });
  const s = buildGpt2({ nLayer: 2, d: 8, nHead: 2, tag: 'print.' });
  const R = input('print.R', ['B', 'T', 8]);
  const g = graph({ out: s.out, ...Object.fromEntries(grad(reduceSum(mul(s.out, R)), s.past.flat()).map((n, i) => [`grad:past.${i}`, n])) });
  roundTrip(g);
  assert.match(printGraph(g), /= attention\(%\d+, %\d+, %\d+\) \{"causal":true,"masked":false,"scale":0\.5\} : f32\[B,2,T,4\] @h\[0\]\.attn\n/);
});

test('constants that JSON cannot express (NaN, ±Infinity, -0) are distinct nodes and round-trip', () => {
  const nodes = [scalar(Infinity), scalar(-Infinity), scalar(NaN), scalar(-0), scalar(0), constant([1, -Infinity], [2])];
  assert.equal(new Set(nodes.map((n) => n.id)).size, nodes.length);
  const g = graph(Object.fromEntries(nodes.map((n, i) => [`c${i}`, n])));
  roundTrip(g);
  assert.match(printGraph(g), /"values":\["-Infinity"\]/);
});

test('odd output names and paths round-trip', () => {
  const x = input('x y"z', [2]);
  const n = withPath('weird path "with" quotes', () => mul(x, 2));
  roundTrip(graph({ 'grad:h.0.attn "q"': n, 'a\nb': x }));
});

test('a fresh process parses the text into an equivalent graph (nothing relies on interned nodes)', () => {
  const s = buildGpt2({ nLayer: 1, d: 8, nHead: 2, tag: 'fresh.' });
  const text = printGraph(graph({ out: s.out, q: withPath('q', () => matmul(s.x, param('fresh.w', [8, 8]))) }));
  const dir = mkdtempSync(join(tmpdir(), 'core-print-'));
  try {
    const file = join(dir, 'g.txt');
    writeFileSync(file, text);
    const here = dirname(fileURLToPath(import.meta.url));
    const script = `import { readFileSync } from 'node:fs';
      import * as E from 'fp-ts/lib/Either.js';
      import { parseGraph, printGraph } from ${JSON.stringify(join(here, '../src/graph.ts'))};
      const p = parseGraph(readFileSync(${JSON.stringify(file)}, 'utf8'));
      if (E.isLeft(p)) { console.error(p.left.message); process.exit(2); }
      process.stdout.write(printGraph(p.right));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: join(here, '..') });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, text);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('malformed text is a Left naming the line and the problem', () => {
  const good = '%0 = input() {"dtype":"float32","name":"x","shape":["B",3]} : f32[B,3]';
  const bad: [string, RegExp][] = [
    [`${good}\n%1 = frobnicate(%0) {} : f32[B,3]`, /^line 2: parse: unknown op 'frobnicate'/],
    [`${good}\n%1 = exp(%7) {} : f32[B,3]`, /^line 2: parse: operand '%7' is not a defined node/],
    [`${good}\n%1 = exp(%0) {} : f32[B,4]`, /^line 2: parse: declared f32\[B,4\] but exp infers f32\[B,3\]/],
    [`${good}\n%1 = matmul(%0, %0) {} : f32[B,3]`, /^line 2: parse: matmul: contraction dims differ: 3 vs B/],
    [`${good}\n%1 = reduceSum(%0) {"axes":"all","keepDims":false} : f32[]`, /^line 2: parse: reduceSum attributes: .*axes/],
    [`${good}\n%1 = reduceSum(%0) {"axes":[0],"keepDims":false,"extra":1} : f32[3]`, /^line 2: parse: reduceSum has no attribute 'extra'/],
    [`${good}\n%1 = exp(%0) {"a": : f32[B,3]`, /^line 2: parse: expected attributes as a JSON object/],
    [`${good}\n%0 = exp(%0) {} : f32[B,3]`, /^line 2: parse: %0 defined twice/],
    [`${good}\noutput "y" = %3`, /^line 2: parse: output refers to undefined %3/],
    [`${good}\n\nthis is not a line`, /^line 3: parse: expected '%N = op/],
    [`${good}\n%1 = exp(%0) {} : q32[B,3]`, /^line 2: parse: malformed type 'q32\[B,3\]'/],
    ['%0 = input() {"dtype":"float32","name":"x","shape":["B-",3]} : f32[B,3]', /^line 1: parse: input attributes: .*malformed dim 'B-'/],
  ];
  for (const [text, re] of bad) {
    const r = parseGraph(text);
    assert.ok(E.isLeft(r), text);
    assert.match(r.left.message, re);
  }
  // blank lines and comments are allowed
  assert.ok(E.isRight(parseGraph(`# a comment\n\n${good}\noutput "x" = %0\n`)));
});
