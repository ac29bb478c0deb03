/**
 * Composites (evaluated through their decompositions) against direct per-element formulas
 * written here from the definitions: softmax, log-softmax, layer norm, RMS norm, GELU (erf and
 * tanh), SiLU, attention (causal alignment to the end of the keys, grouped-query heads, key
 * padding mask, fully masked rows), cross-entropy (ignore index, reductions).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { input, param, softmax, logSoftmax, layerNorm, rmsNorm, gelu, silu, attention, crossEntropy } from '../src/graph.ts';
import { graph, evaluate, hostTensor, type HostTensor } from '../src/index.ts';
import { rng } from './support/gen.ts';

const tensor = (shape: number[], seed: number, scale = 2): HostTensor => {
  const r = rng(seed);
  return hostTensor('float32', shape, Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * scale));
};
const data = (t: HostTensor): number[] => Array.from(t.data as Float64Array);
const close = (a: readonly number[], b: readonly number[], tol = 1e-12): void => {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= tol * (1 + Math.abs(b[i]!)), `[${i}] ${v} vs ${b[i]}`));
};
const rows = (v: readonly number[], n: number): number[][] => Array.from({ length: v.length / n }, (_, i) => v.slice(i * n, i * n + n));

test('softmax and log-softmax along the last axis', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.nat(), (R, C, seed) => {
    const x = input('x', ['R', C]);
    const t = tensor([R, C], seed, 20);
    const r = evaluate(graph({ s: softmax(x), l: logSoftmax(x) }), { x: t }, {}, { precision: 'f64' });
    const expS: number[] = [];
    const expL: number[] = [];
    for (const row of rows(data(t), C)) {
      const z = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      for (const v of row) { expS.push(Math.exp(v - z)); expL.push(v - z); }
    }
    close(data(r.s!), expS, 1e-10);
    close(data(r.l!), expL, 1e-10);
  }));
});

test('layer norm and RMS norm over the last axis', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.nat(), fc.constantFrom(1e-5, 0.5), (R, D, seed, eps) => {
    const x = input('x', ['R', D]);
    const g = param('g', [D]);
    const b = param('b', [D]);
    const [tx, tg, tb] = [tensor([R, D], seed), tensor([D], seed + 1), tensor([D], seed + 2)];
    const r = evaluate(graph({ ln: layerNorm(x, g, b, eps), rms: rmsNorm(x, g, eps) }), { x: tx }, { g: tg, b: tb }, { precision: 'f64' });
    const [G, B] = [data(tg), data(tb)];
    const expLn: number[] = [];
    const expRms: number[] = [];
    for (const row of rows(data(tx), D)) {
      const mean = row.reduce((a, v) => a + v, 0) / D;
      const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / D;
      const ms = row.reduce((a, v) => a + v * v, 0) / D;
      row.forEach((v, i) => {
        expLn.push(((v - mean) / Math.sqrt(variance + eps)) * G[i]! + B[i]!);
        expRms.push((v / Math.sqrt(ms + eps)) * G[i]!);
      });
    }
    close(data(r.ln!), expLn, 1e-10);
    close(data(r.rms!), expRms, 1e-10);
  }));
});

test('GELU (exact: known values of x*Phi(x); tanh approximation: its formula) and SiLU', () => {
  const x = input('gx', [5]);
  const pts = [-2, -1, 0, 0.5, 1];
  const r = evaluate(graph({ e: gelu(x), t: gelu(x, 'tanh'), s: silu(x) }), { gx: hostTensor('float32', [5], Float64Array.from(pts)) }, {}, { precision: 'f64' });
  // x * Phi(x) with Phi from standard normal tables: Phi(-2) = 0.022750131948179195, Phi(-1) = 0.15865525393145707,
  // Phi(0.5) = 0.6914624612740131, Phi(1) = 0.8413447460685429
  close(data(r.e!), [-2 * 0.022750131948179195, -0.15865525393145707, 0, 0.5 * 0.6914624612740131, 0.8413447460685429], 1e-14);
  close(data(r.t!), pts.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))), 1e-14);
  close(data(r.s!), pts.map((v) => v / (1 + Math.exp(-v))), 1e-14);
});

/** Direct attention: per batch, head, query; query i sees key j iff j <= i + Tk - Tq (causal). */
const naiveAttention = (q: number[], k: number[], v: number[], mask: number[] | undefined, B: number, H: number, Hk: number, Tq: number, Tk: number, D: number, Dv: number, scale: number, causal: boolean) => {
  const out: number[] = [];
  const g = H / Hk;
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / g);
      for (let i = 0; i < Tq; i++) {
        const allowed = Array.from({ length: Tk }, (_, j) => (!causal || j <= i + Tk - Tq) && (mask === undefined || mask[b * Tk + j] === 1));
        const scores = Array.from({ length: Tk }, (_, j) => {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[((b * H + h) * Tq + i) * D + d]! * k[((b * Hk + hk) * Tk + j) * D + d]!;
          return s * scale;
        });
        // a fully masked row attends uniformly (Hugging Face's finfo.min behaviour)
        const any = allowed.some(Boolean);
        const m = Math.max(...scores.filter((_, j) => allowed[j]));
        const w = scores.map((s, j) => (!any ? 1 : allowed[j] ? Math.exp(s - m) : 0));
        const z = w.reduce((a, x) => a + x, 0);
        for (let d = 0; d < Dv; d++) out.push(w.reduce((a, wj, j) => a + (wj / z) * v[((b * Hk + hk) * Tk + j) * Dv + d]!, 0));
      }
    }
  return out;
};

test('attention: causal mask aligned to the end of the keys, grouped-query heads, key padding mask', () => {
  fc.assert(fc.property(
    fc.record({ B: fc.integer({ min: 1, max: 2 }), Hk: fc.integer({ min: 1, max: 2 }), g: fc.integer({ min: 1, max: 2 }), Tq: fc.integer({ min: 1, max: 3 }), extra: fc.integer({ min: 0, max: 3 }), D: fc.integer({ min: 1, max: 3 }), Dv: fc.integer({ min: 1, max: 3 }), causal: fc.boolean(), masked: fc.boolean(), seed: fc.nat() }),
    ({ B, Hk, g, Tq, extra, D, Dv, causal, masked, seed }) => {
      const H = Hk * g;
      const Tk = Tq + extra;
      const [tq, tk, tv] = [tensor([B, H, Tq, D], seed), tensor([B, Hk, Tk, D], seed + 1), tensor([B, Hk, Tk, Dv], seed + 2)];
      const r0 = rng(seed + 3);
      const maskVals = Array.from({ length: B * Tk }, () => (r0() < 0.3 ? 0 : 1));
      const q = input('q', ['B', H, 'Tq', D]);
      const k = input('k', ['B', Hk, 'Tk', D]);
      const v = input('v', ['B', Hk, 'Tk', Dv]);
      const m = input('m', ['B', 'Tk'], 'bool');
      const out = attention(q, k, v, { causal, ...(masked ? { keyMask: m } : {}) });
      const feeds: Record<string, HostTensor> = { q: tq, k: tk, v: tv, m: hostTensor('bool', [B, Tk], Uint8Array.from(maskVals)) };
      const r = evaluate(graph({ out }), feeds, {}, { precision: 'f64' });
      assert.deepEqual(r.out!.shape, [B, H, Tq, Dv]);
      close(data(r.out!), naiveAttention(data(tq), data(tk), data(tv), masked ? maskVals : undefined, B, H, Hk, Tq, Tk, D, Dv, 1 / Math.sqrt(D), causal), 1e-10);
    },
  ), { numRuns: 150 });
});

test('cross-entropy: mean over non-ignored positions, sum, none; all ignored gives 0', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.nat(), fc.constantFrom(-100, 1), (N, V, seed, ignoreIndex) => {
    const r0 = rng(seed + 9);
    const labels = Array.from({ length: N }, () => (r0() < 0.3 ? ignoreIndex : Math.floor(r0() * V)));
    const tl = tensor([N, V], seed, 3);
    const logits = input('lg', ['N', V]);
    const lab = input('lb', ['N'], 'int32');
    const outs = Object.fromEntries((['mean', 'sum', 'none'] as const).map((red) => [red, crossEntropy(logits, lab, { ignoreIndex, reduction: red })]));
    const r = evaluate(graph(outs), { lg: tl, lb: hostTensor('int32', [N], Int32Array.from(labels)) }, {}, { precision: 'f64' });
    const nll = rows(data(tl), V).map((row, i) => {
      if (labels[i] === ignoreIndex) return 0;
      const z = Math.log(row.reduce((a, v) => a + Math.exp(v), 0));
      return z - row[labels[i]!]!;
    });
    const count = labels.filter((l) => l !== ignoreIndex).length;
    const sum = nll.reduce((a, b) => a + b, 0);
    close(data(r.none!), nll, 1e-10);
    close(data(r.sum!), [sum], 1e-10);
    close(data(r.mean!), [count === 0 ? 0 : sum / count], 1e-10);
  }));
});
