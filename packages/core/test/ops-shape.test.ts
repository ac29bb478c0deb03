/**
 * Law: for every op, the shape rule (decided symbolically at construction) equals the shape
 * of the reference kernel's output on random concrete shapes, and the dtype agrees.
 * Iterates over the coverage table `support/cases.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dimEval, opNames } from '../src/graph.ts';
import { evaluate, graph } from '../src/index.ts';
import { cases } from './support/cases.ts';

for (const op of opNames) {
  test(`shape rule of ${op} equals the reference kernel's output shape`, () => {
    fc.assert(
      fc.property(cases[op].gen, (c) => {
        assert.equal(c.out.op, op);
        const r = evaluate(graph({ out: c.out }), c.feeds, c.params, { precision: 'f64', dims: c.env }).out!;
        assert.deepEqual(r.shape, c.out.shape.map((d) => dimEval(d, c.env)));
        assert.equal(r.dtype, c.out.dtype);
        assert.equal(r.data.length, r.shape.reduce((a, b) => a * b, 1));
      }),
      { numRuns: 60 },
    );
  });
}
