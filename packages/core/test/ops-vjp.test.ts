/**
 * Law: every op's VJP agrees with central finite differences (float64, random shapes and
 * values), and an op without gradients returns only symbolic zeros. Composites with a
 * hand-written VJP must also agree with the gradient of their decomposition.
 * Iterates over the coverage table `support/cases.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decomposition, grad, input, mul, opDef, opNames, reduceSum } from '../src/graph.ts';
import { evaluate, graph, type Node } from '../src/index.ts';
import { hostTensor } from '../src/backend/tensor.ts';
import { cases } from './support/cases.ts';
import { fdCheck } from './support/fd.ts';
import { rng } from './support/gen.ts';

for (const op of opNames) {
  test(`VJP of ${op} agrees with finite differences`, () => {
    const def = opDef(op);
    assert.notEqual(def.vjp, undefined);
    fc.assert(
      fc.property(cases[op].gen, (c) => {
        assert.equal(c.out.op, op);
        if (c.diff.length === 0) {
          // no gradient flows through this application: the VJP gives symbolic zeros only
          if (typeof def.vjp === 'function' && c.out.inputs.length > 0) {
            const ct = input('__ct_zero', c.out.shape, 'float32');
            const ins = (def.vjp as (a: unknown) => readonly (Node | undefined)[])({ node: c.out, inputs: c.out.inputs, ct });
            assert.ok(ins.every((x) => x === undefined), `${op} gave a cotangent to a non-differentiable operand`);
          }
          return;
        }
        const err = fdCheck(c.out, c.inputs, c.feeds, c.params, c.diff, { dims: c.env, maxCoords: 8 });
        assert.equal(err, undefined, err);
      }),
      { numRuns: op === 'attention' || op === 'layerNorm' ? 25 : 30 },
    );
    if (cases[op].differentiable) {
      // the generator must actually produce differentiable cases for this op
      const sample = fc.sample(cases[op].gen, { numRuns: 30, seed: 7 });
      assert.ok(sample.some((c) => c.diff.length > 0), `${op}: no differentiable case generated`);
    }
  });
}

const handWritten = opNames.filter((op) => opDef(op).kind === 'composite' && typeof opDef(op).vjp === 'function');

test('composites with hand-written VJPs: there are some (softmax, logSoftmax, crossEntropy, norms, activations)', () => {
  assert.deepEqual([...handWritten].sort(), ['crossEntropy', 'gelu', 'layerNorm', 'logSoftmax', 'rmsNorm', 'silu', 'softmax']);
});

for (const op of handWritten) {
  test(`hand-written VJP of ${op} equals the gradient of its decomposition`, () => {
    fc.assert(
      // a subset of the operands (a VJP asked for fewer cotangents builds only those)
      fc.property(cases[op].gen, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), (c, pick) => {
        const outShape = evaluate(graph({ out: c.out }), c.feeds, c.params, { precision: 'f64', dims: c.env }).out!.shape;
        const rand = rng(99);
        const R = input('__ct', c.out.shape, 'float32');
        const ct = hostTensor('float32', outShape, Float64Array.from({ length: outShape.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1));
        const chosen = c.diff.filter((_, i) => pick[i]);
        const wrt = (chosen.length > 0 ? chosen : c.diff).map((n) => c.inputs[n]!);
        const viaHand = grad(reduceSum(mul(c.out, R)), wrt);
        const viaDecomp = grad(reduceSum(mul(decomposition(c.out), R)), wrt);
        // (a cotangent may legitimately be the same node both ways: layerNorm's d beta = ct)
        if (chosen.length === 0 || chosen.length === c.diff.length) assert.ok(viaHand.some((g, i) => g !== viaDecomp[i]), 'the two gradients should be different graphs');
        const outs = Object.fromEntries([...viaHand.map((g, i) => [`h${i}`, g]), ...viaDecomp.map((g, i) => [`d${i}`, g])]);
        const r = evaluate(graph(outs), { ...c.feeds, __ct: ct }, c.params, { precision: 'f64', dims: c.env });
        wrt.forEach((_, i) => {
          const h = r[`h${i}`]!.data;
          const d = r[`d${i}`]!.data;
          for (let k = 0; k < h.length; k++) assert.ok(Math.abs((h[k] as number) - (d[k] as number)) <= 1e-9 * (1 + Math.abs(d[k] as number)), `${op}: ${h[k]} vs ${d[k]}`);
        });
      }),
      { numRuns: 40 },
    );
  });
}
