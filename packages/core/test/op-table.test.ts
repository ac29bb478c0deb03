/**
 * The op table is complete: every op has a shape rule, a VJP (or, for a composite,
 * 'viaDecomposition'), a reference kernel that is not a placeholder (or, for a composite,
 * its decomposition), and an entry in the property-test coverage table whose generator
 * really builds that op. Adding an op without all of these fails here (and the coverage
 * table's type makes a missing entry a compile error as well).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compositeOps, opDef, opNames, opTable } from '../src/graph.ts';
import { attrCodecs } from '../src/ops/attrs.ts';
import { cases } from './support/cases.ts';

test('the op table has exactly the ops that have attribute codecs', () => {
  assert.deepEqual(Object.keys(opTable).sort(), Object.keys(attrCodecs).sort());
  for (const op of opNames) assert.equal(opDef(op).name, op, `${op}: the record is named ${opDef(op).name}`);
});

test('compositeOps (what the backends fuse or expand) is exactly the ops whose record is a composite', () => {
  assert.deepEqual([...compositeOps].sort(), opNames.filter((n) => opDef(n).kind === 'composite').sort());
});

test('layers point one way: ops/ imports nothing from nn/ or table/, nn/ nothing from table/, decode/ nothing from prefix/', () => {
  const src = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');
  const imports = (dir: string) =>
    readdirSync(join(src, dir)).filter((f) => f.endsWith('.ts')).flatMap((f) =>
      [...readFileSync(join(src, dir, f), 'utf8').matchAll(/^(?:import|export)[^;]*?from '([^']+)'/gms)].map((m) => `${dir}/${f} -> ${m[1]}`));
  const ops = imports('ops'), nn = imports('nn'), decode = imports('decode');
  assert.ok(ops.length > 10 && nn.length > 10 && decode.length > 10, 'the import scan found the files');
  // decoding takes its prefill/encoder graphs and geometry as values (decode/plan.ts); prefix/ builds them from an injection
  assert.deepEqual(decode.filter((l) => /\.\.\/prefix\//.test(l.split(' -> ')[1]!)), []);
  assert.deepEqual(ops.filter((l) => /'?\.\.\/(nn|table)\//.test(l.split(' -> ')[1]!)), []);
  assert.deepEqual(nn.filter((l) => /\.\.\/table\//.test(l.split(' -> ')[1]!)), []);
});

for (const op of opNames) {
  test(`${op} has a shape rule, a VJP, a reference kernel and property tests`, () => {
    const def = opDef(op);
    assert.equal(typeof def.infer, 'function', 'shape rule');
    assert.ok(['leaf', 'primitive', 'composite'].includes(def.kind));
    if (def.kind === 'composite') {
      assert.equal(typeof def.decompose, 'function', 'a composite needs a decomposition');
      assert.ok(typeof def.vjp === 'function' || def.vjp === 'viaDecomposition', 'VJP');
      assert.ok(typeof def.ref === 'function' || def.ref === 'viaDecomposition', 'reference');
    } else {
      assert.equal(def.decompose, undefined, 'only composites decompose');
      assert.equal(typeof def.vjp, 'function', 'a primitive needs a VJP');
      assert.equal(typeof def.ref, 'function', 'a primitive needs a reference kernel');
    }
    if (typeof def.ref === 'function') assert.notEqual((def.ref as { pending?: boolean }).pending, true, 'the reference kernel is a placeholder');
    // the coverage table: an entry whose generator builds this op at the root
    const entry = cases[op];
    assert.ok(entry !== undefined, `no property-test case for ${op}`);
    for (const c of fc.sample(entry.gen, { numRuns: 5, seed: 42 })) assert.equal(c.out.op, op, `the ${op} case builds ${c.out.op}`);
  });
}

test('the coverage table has no entry for an op that does not exist', () => {
  assert.deepEqual(Object.keys(cases).sort(), [...opNames].sort());
});
