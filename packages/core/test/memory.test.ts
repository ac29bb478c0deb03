/**
 * Module-global caches do not keep graphs alive: a long-running process (a server building
 * graphs per request) that builds and drops many graphs returns to its baseline of live nodes,
 * and the hash-consing table's entries are swept. Hash-consing itself still holds for live nodes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as E from 'fp-ts/lib/Either.js';
import { internStats } from '../src/ir/node.ts';
import { decomposition } from '../src/table/decompose.ts';
import { build, causalLmGraph, decodeModelConfig, type Graph } from '../src/index.ts';
import { graphNodes, gradGraph, input, param, softmax, matmul } from '../src/graph.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const collect = async () => {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
};

const cfg = (() => {
  const c = decodeModelConfig({ model_type: 'gpt2', vocab_size: 32, n_positions: 64, n_embd: 8, n_layer: 2, n_head: 2 });
  if (E.isLeft(c)) throw new Error(c.left);
  return c.right;
})();

test('graphs built and dropped are collected with their cache entries', async () => {
  await collect();
  const base = internStats();
  // one graph kept alive throughout: its nodes must survive every collection
  const kept = build(() => {
    const x = input('kept_x', ['B', 4]);
    const s = softmax(matmul(x, param('kept_w', [4, 4])));
    decomposition(s);
    return { s };
  });
  assert.ok(E.isRight(kept));
  for (let round = 0; round < 60; round++) {
    // a different model graph each round (its own sequence length), with gradients and decompositions
    const g = causalLmGraph(cfg as Parameters<typeof causalLmGraph>[0], { loss: 'mean', seqLen: round + 1 });
    const named: Graph = gradGraph(g, 'loss', ['wte.weight']);
    for (const n of graphNodes(named)) if (n.op === 'softmax' || n.op === 'layerNorm' || n.op === 'gelu') decomposition(n);
    const own = build(() => ({ y: softmax(matmul(input(`x${round}`, ['B', 4]), param(`w${round}`, [4, 4]))) }));
    assert.ok(E.isRight(own));
    decomposition(own.right.y);
  }
  const grown = internStats();
  await collect();
  const after = internStats();
  assert.ok(grown.live > base.live + 1000, `the rounds built nodes (${base.live} -> ${grown.live})`);
  // what is left: the kept graph and shared constants, not 60 rounds of graphs
  assert.ok(after.live < base.live + 200, `live nodes after collection: ${after.live} (baseline ${base.live}, peak ${grown.live})`);
  assert.ok(after.entries < base.entries + 400, `table entries after sweeping: ${after.entries} (baseline ${base.entries}, peak ${grown.entries})`);
  // the kept graph is intact and still hash-consed: building it again gives the same nodes
  const again = build(() => ({ s: softmax(matmul(input('kept_x', ['B', 4]), param('kept_w', [4, 4]))) }));
  assert.ok(E.isRight(again) && again.right.s === (kept as E.Right<{ s: unknown }>).right.s);
});
