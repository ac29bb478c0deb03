/**
 * Graph utilities (topological order, cut, dead-node elimination, substitution, renaming,
 * hash-consing) and the package boundary: core depends on no tensor runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import {
  input, param, topoOrder, topoOrderUntil, dce, rebuild, substitute, graphInputs, graphParams, withPath, add, mul, exp, matmul, reduceSum, renameGraph, dimToString, dimRename, dimAdd, dimMul, dimSub, sym
} from '../src/graph.ts';
import { graph, evaluate, build, f32, type Node, causalLmGraph } from '../src/index.ts';
import { decodeOk, randomParams } from './models/random.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

test('hash-consing: the same construction gives the same node; a different one does not', () => {
  const x = input('hx', ['B', 3]);
  assert.equal(add(exp(x), 1), add(exp(x), 1));
  assert.notEqual(add(exp(x), 1), add(exp(x), 2));
  assert.equal(input('hx', ['B', 3]), x);
  assert.notEqual(input('hx', ['B', 4]), x);
  // the path is where a node was first built, not part of its identity
  assert.equal(withPath('elsewhere', () => exp(x)), exp(x));
});

test('topoOrder puts inputs before users; topoOrderUntil stops at the cut', () => {
  const x = input('tx', [2]);
  const a = exp(x);
  const b = mul(a, a);
  const c = add(b, x);
  const order = topoOrder([c]);
  const pos = new Map(order.map((n, i) => [n.id, i]));
  for (const n of order) for (const i of n.inputs) assert.ok(pos.get(i.id)! < pos.get(n.id)!);
  assert.deepEqual(order.filter((n) => n.op !== 'constant'), [x, a, b, c]);
  const cut = topoOrderUntil([c], (n) => n === a);
  assert.ok(!cut.includes(a) && cut.includes(b) && cut.includes(x));
});

test('dce keeps only what the named outputs need; inputs and params are found from the outputs', () => {
  const x = input('dx', [2]);
  const y = input('dy', [2]);
  const w = param('dw', [2]);
  const g = graph({ keep: mul(x, w), drop: exp(y) });
  const small = dce(g, ['keep']);
  assert.deepEqual(Object.keys(small.outputs), ['keep']);
  assert.deepEqual(graphInputs(small).map((n) => n.attrs.name), ['dx']);
  assert.deepEqual(graphParams(small).map((n) => n.attrs.name), ['dw']);
  assert.throws(() => dce(g, ['nope']), /unknown output 'nope'/);
});

test('substitute rebuilds users of replaced nodes, re-checks shapes, and keeps unchanged nodes', () => {
  const x = input('sx', ['B', 4]);
  const w = param('sw', [4, 2]);
  const side = exp(w);
  const y = withPath('layers[0].proj', () => matmul(x, w));
  const g = graph({ y: reduceSum(y), side });
  const x2 = input('sx2', ['B', 4]);
  const g2 = substitute(g, new Map([[x, mul(x2, 2)]]));
  assert.equal(g2.outputs.side, side, 'an unchanged subgraph is the same node');
  assert.notEqual(g2.outputs.y, g.outputs.y);
  const params = { sw: f32([4, 2], [1, 0, 0, 1, 1, 0, 0, 1]) };
  const r1 = evaluate(g, { sx: f32([1, 4], [1, 2, 3, 4]) }, params);
  const r2 = evaluate(g2, { sx2: f32([1, 4], [0.5, 1, 1.5, 2]) }, params);
  assert.deepEqual(r2.y!.data, r1.y!.data);
  // a replacement of the wrong shape is a GraphError at the rebuilt node's path
  const bad = build(() => substitute(g, new Map<Node, Node>([[x, input('sx3', ['B', 5])]])));
  assert.ok(E.isLeft(bad));
  assert.match(bad.left.message, /^layers\[0\]\.proj: matmul: contraction dims differ: 5 vs 4/);
  // rebuild with a function
  const [again] = rebuild([g.outputs.y!], () => undefined);
  assert.equal(again, g.outputs.y);
});

test('packages/core depends on no tensor runtime and src imports nothing but fp-ts and io-ts', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}).sort(), ['fp-ts', 'io-ts']);
  const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : f.endsWith('.ts') ? [join(d, f)] : []));
  for (const file of walk(join(root, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) continue;
      assert.ok(/^(fp-ts|io-ts)(\/|$)/.test(spec), `${file} imports '${spec}'`);
    }
  }
});

test('renameGraph: a GPT-2 forward with its dims and inputs renamed computes the same logits from the renamed feeds; parameters are shared', () => {
  const cfg = decodeOk({ model_type: 'gpt2', vocab_size: 11, n_positions: 16, n_embd: 8, n_layer: 2, n_head: 2 });
  const g = causalLmGraph(cfg as never, { attentionMask: true });
  const r = renameGraph(g, { dim: (s) => `${s}_x`, input: (n) => `${n}#x` });
  const shapes = (h: typeof g) => graphInputs(h).map((n) => `${n.attrs.name}:${n.shape.map(dimToString).join(',')}`).sort();
  assert.deepEqual(shapes(r), shapes(g).map((s) => s.replace(/^([a-z_]+):/, '$1#x:').replace(/\b([BT])\b/g, '$1_x')));
  assert.deepEqual(graphParams(r).map((p) => p.id).sort(), graphParams(g).map((p) => p.id).sort(), 'the same parameter nodes');
  const params = randomParams(cfg, 3);
  const ids = { dtype: 'int32' as const, shape: [2, 5], data: Int32Array.from([1, 4, 9, 2, 7, 3, 3, 8, 1, 0]) };
  const mask = { dtype: 'int32' as const, shape: [2, 5], data: Int32Array.from([1, 1, 1, 1, 1, 0, 1, 1, 1, 1]) };
  const want = evaluate(g, { input_ids: ids, attention_mask: mask }, params)['logits']!;
  const got = evaluate(r, { 'input_ids#x': ids, 'attention_mask#x': mask }, params)['logits']!;
  assert.deepEqual(got.shape, want.shape);
  assert.deepEqual([...got.data], [...want.data]);
  // dimRename on polynomials: every symbol renamed, terms that meet are added
  const d = dimSub(dimAdd(dimMul(sym('B'), sym('T')), dimMul(2, sym('T'))), 1);
  assert.equal(dimToString(dimRename(d, (s) => `${s}_x`)), dimToString(dimSub(dimAdd(dimMul(sym('B_x'), sym('T_x')), dimMul(2, sym('T_x'))), 1)));
  assert.equal(dimToString(dimRename(dimAdd(sym('T'), sym('U')), () => 'T')), dimToString(dimMul(2, sym('T'))));
  assert.equal(dimRename(7, (s) => `${s}_x`), 7);
});
