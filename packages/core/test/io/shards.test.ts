import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { parseShardIndex, shardFiles, mergeShards } from '../../src/io/shards.ts';
import { parseSafetensors, serializeSafetensors, type SafetensorsFile } from '../../src/io/safetensors.ts';

const file = (names: string[]): SafetensorsFile => {
  const r = parseSafetensors(serializeSafetensors(Object.fromEntries(names.map((n, i) => [n, { dtype: 'F32' as const, shape: [1], data: [i] }]))));
  assert.ok(E.isRight(r));
  return r.right;
};

test('index codec: weight_map required, metadata optional; unsafe shard names rejected', () => {
  const ok = parseShardIndex({ metadata: { total_size: 8 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } });
  assert.ok(E.isRight(ok));
  assert.deepEqual(shardFiles(ok.right), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  assert.ok(E.isRight(parseShardIndex({ weight_map: {} })));
  const noMap = parseShardIndex({ metadata: {} });
  assert.ok(E.isLeft(noMap));
  assert.match(noMap.left, /weight_map/);
  for (const bad of ['../x.safetensors', '/etc/passwd', 'a/../../b', 'a\\b', '', './x'])
    assert.ok(E.isLeft(parseShardIndex({ weight_map: { w: bad } })), bad);
});

test('mergeShards: every indexed tensor from its shard; errors name the tensor and the files', () => {
  const index = { weight_map: { a: 's1', b: 's2', c: 's1' } };
  const merged = mergeShards(index)(new Map([['s1', file(['a', 'c'])], ['s2', file(['b'])]]));
  assert.ok(E.isRight(merged));
  assert.deepEqual([...merged.right.keys()].sort(), ['a', 'b', 'c']);
  const missingShard = mergeShards(index)(new Map([['s1', file(['a', 'c'])]]));
  assert.ok(E.isLeft(missingShard));
  assert.match(missingShard.left, /shard 's2' was not provided/);
  const wrongPlace = mergeShards(index)(new Map([['s1', file(['a'])], ['s2', file(['b', 'c'])]]));
  assert.ok(E.isLeft(wrongPlace));
  assert.equal(wrongPlace.left, "tensor 'c': the index puts it in 's1' but it is in 's2'");
  const dup = mergeShards(index)(new Map([['s1', file(['a', 'c', 'b'])], ['s2', file(['b'])]]));
  assert.ok(E.isLeft(dup));
  assert.match(dup.left, /'b' appears in two shards: 's1' and 's2'/);
});

test('mergeShards of any partition of tensors into shards recovers all tensors (property)', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.stringMatching(/^[a-z.]{1,8}$/), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (names, k, seed) => {
      const assign = names.map((_, i) => `shard-${(i * 7 + seed) % k >= 0 ? ((i * 7 + seed) % k) : -((i * 7 + seed) % k)}.safetensors`);
      const weight_map = Object.fromEntries(names.map((n, i) => [n, assign[i]!]));
      const index = parseShardIndex({ weight_map });
      assert.ok(E.isRight(index));
      const shards = new Map(shardFiles(index.right).map((f) => [f, file(names.filter((_, i) => assign[i] === f))]));
      const merged = mergeShards(index.right)(shards);
      assert.ok(E.isRight(merged));
      assert.deepEqual([...merged.right.keys()].sort(), [...names].sort());
    }),
  );
});
