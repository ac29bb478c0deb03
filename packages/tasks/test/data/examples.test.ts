/** Example construction, padding, label masks and the seeded batcher. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  IGNORE_INDEX,
  buildDecoderExample,
  buildDecoderPrompt,
  buildSeq2SeqExample,
  collateDecoder,
  collatePrompts,
  collateSeq2Seq,
  type TokenizerLike,
} from '../../src/data/examples.ts';
import { batchIndices, batches } from '../../src/data/batching.ts';

/** A toy tokenizer: one token per character code (≥ 10), EOS 2, PAD 0. */
const charTok: TokenizerLike = { encode: (s) => [...s].map((c) => 10 + (c.codePointAt(0)! % 1000)), eosId: 2, padId: 0 };
const EOS = 2;

test('decoder example: source ; EOS ; target ; EOS with the source and separator masked', () => {
  const ex = buildDecoderExample(charTok, { prependSpace: false })({ source: 'ab', target: 'xyz' });
  const [a, b, x, y, z] = charTok.encode('abxyz');
  assert.deepEqual(ex.inputIds, [a, b, EOS, x, y, z, EOS]);
  assert.deepEqual(ex.labels, [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, x, y, z, EOS]);
  assert.equal(ex.sourceLength, 2);
  assert.equal(ex.truncated, false);
  // default: a space is prepended to source and target (the official ' {src} EOS {tgt}' text)
  const sp = buildDecoderExample(charTok)({ source: 'ab', target: 'x' });
  const space = charTok.encode(' ')[0];
  assert.deepEqual(sp.inputIds, [space, a, b, EOS, space, x, EOS]);
  assert.deepEqual(buildDecoderPrompt(charTok)('ab'), [space, a, b, EOS]);
});

test('decoder example: truncation limits', () => {
  const b = (opts: Parameters<typeof buildDecoderExample>[1]) => buildDecoderExample(charTok, { prependSpace: false, ...opts })({ source: 'abcdef', target: 'xyz' });
  assert.equal(b({ maxSourceLength: 2 }).sourceLength, 2);
  assert.deepEqual(b({ maxTargetLength: 1 }).labels.slice(-2), [charTok.encode('x')[0], EOS]);
  const m = b({ maxLength: 7 }); // 6 + 3 + 2 = 11 > 7: the source loses 4 tokens
  assert.equal(m.inputIds.length, 7);
  assert.equal(m.sourceLength, 2);
  assert.ok(m.truncated);
  const t = b({ maxLength: 3 }); // no source at all, target cut to one token, final EOS kept
  assert.deepEqual(t.inputIds, [EOS, charTok.encode('x')[0], EOS]);
  assert.throws(() => b({ maxLength: 1 }), /maxLength must be at least 2/);
});

test('encoder–decoder example: BART conventions (bos … eos, decoder inputs shifted right from the decoder start)', () => {
  const bart: TokenizerLike = { ...charTok, bosId: 1, decoderStartId: 2 };
  const ex = buildSeq2SeqExample(bart, { prependSpace: false })({ source: 'ab', target: 'xy' });
  const [a, b, x, y] = charTok.encode('abxy');
  assert.deepEqual(ex.inputIds, [1, a, b, 2]);
  assert.deepEqual(ex.labels, [1, x, y, 2]);
  assert.deepEqual(ex.decoderInputIds, [2, 1, x, y]);
  const cut = buildSeq2SeqExample(bart, { prependSpace: false, maxSourceLength: 3, maxTargetLength: 3 })({ source: 'abcd', target: 'xyz' });
  assert.deepEqual(cut.inputIds, [1, a, 2]);
  assert.deepEqual(cut.labels, [1, x, 2]);
  assert.ok(cut.truncated);
});

const textArb = fc.string({ maxLength: 12 });
const pairArb = fc.record({ source: textArb, target: textArb });
const optsArb = fc.record(
  {
    maxSourceLength: fc.integer({ min: 0, max: 12 }),
    maxTargetLength: fc.integer({ min: 0, max: 12 }),
    maxLength: fc.integer({ min: 2, max: 20 }),
    prependSpace: fc.boolean(),
  },
  { requiredKeys: [] },
);

test('decoder batch laws: shapes, right padding, attention mask, labels masked on source and padding', () => {
  fc.assert(
    fc.property(fc.array(pairArb, { minLength: 1, maxLength: 6 }), optsArb, fc.integer({ min: 1, max: 4 }), (pairs, opts, mult) => {
      const exs = pairs.map(buildDecoderExample(charTok, opts));
      const batch = collateDecoder(exs, charTok.padId, mult);
      const T = Math.ceil(Math.max(...exs.map((e) => e.inputIds.length)) / mult) * mult;
      assert.equal(batch.inputIds.length, pairs.length);
      exs.forEach((ex, i) => {
        const n = ex.inputIds.length;
        if (opts.maxLength !== undefined) assert.ok(n <= opts.maxLength);
        assert.equal(ex.labels.length, n);
        for (const row of [batch.inputIds[i], batch.attentionMask[i], batch.labels[i]]) assert.equal(row.length, T);
        assert.deepEqual(batch.attentionMask[i], [...Array(n).fill(1), ...Array(T - n).fill(0)]);
        assert.deepEqual(batch.inputIds[i].slice(n), Array(T - n).fill(charTok.padId));
        assert.deepEqual(batch.labels[i].slice(n), Array(T - n).fill(IGNORE_INDEX));
        // masked exactly on source + separator; elsewhere labels equal inputs
        const masked = ex.sourceLength + 1;
        assert.deepEqual(ex.labels.slice(0, masked), Array(masked).fill(IGNORE_INDEX));
        assert.deepEqual(ex.labels.slice(masked), ex.inputIds.slice(masked));
        assert.equal(ex.inputIds[ex.sourceLength], EOS);
        assert.equal(ex.inputIds[n - 1], EOS);
        // the prompt is the example's prefix up to the separator (same truncation of the source)
        if (opts.maxLength === undefined) assert.deepEqual(buildDecoderPrompt(charTok, opts)(pairs[i].source), ex.inputIds.slice(0, masked));
      });
    }),
    { numRuns: 300 },
  );
});

test('encoder–decoder and prompt batch laws', () => {
  const bart: TokenizerLike = { ...charTok, bosId: 1 };
  fc.assert(
    fc.property(fc.array(pairArb, { minLength: 1, maxLength: 5 }), optsArb, (pairs, opts) => {
      const exs = pairs.map(buildSeq2SeqExample(bart, opts));
      const b = collateSeq2Seq(exs, 0);
      exs.forEach((ex, i) => {
        if (opts.maxSourceLength !== undefined) assert.ok(ex.inputIds.length <= Math.max(2, opts.maxSourceLength));
        assert.deepEqual(ex.decoderInputIds.slice(1), ex.labels.slice(0, -1));
        assert.equal(ex.decoderInputIds.length, ex.labels.length);
        const n = ex.inputIds.length;
        assert.deepEqual(b.attentionMask[i], [...Array(n).fill(1), ...Array(b.inputIds[i].length - n).fill(0)]);
        const m = ex.labels.length;
        assert.deepEqual(b.labels[i].slice(m), Array(b.labels[i].length - m).fill(IGNORE_INDEX));
        assert.deepEqual(b.decoderAttentionMask[i].slice(0, m), Array(m).fill(1));
      });
      const prompts = pairs.map((p) => buildDecoderPrompt(charTok, opts)(p.source));
      const pb = collatePrompts(prompts, 0);
      prompts.forEach((p, i) => {
        assert.deepEqual(pb.inputIds[i].slice(pb.inputIds[i].length - p.length), p); // real tokens at the end
        assert.equal(pb.attentionMask[i].reduce((s, x) => s + x, 0), p.length);
      });
    }),
    { numRuns: 200 },
  );
});

const batchOptsArb = fc.record(
  {
    batchSize: fc.integer({ min: 1, max: 7 }),
    seed: fc.integer(),
    epoch: fc.nat(5),
    shuffle: fc.boolean(),
    bucketSize: fc.integer({ min: 1, max: 4 }),
    dropLast: fc.boolean(),
  },
  { requiredKeys: ['batchSize'] },
);

test('batcher laws: a deterministic partition into batches of the right sizes', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(50), { maxLength: 60 }), batchOptsArb, (lengths, opts) => {
      const n = lengths.length;
      const b1 = batchIndices(n, opts, lengths);
      assert.deepEqual(batchIndices(n, opts, lengths), b1); // same seed and epoch: same batches
      const flat = b1.flat();
      assert.equal(new Set(flat).size, flat.length); // no index twice
      assert.ok(flat.every((i) => Number.isInteger(i) && i >= 0 && i < n));
      const full = Math.floor(n / opts.batchSize);
      if (opts.dropLast) {
        assert.equal(b1.length, full);
        assert.ok(b1.every((b) => b.length === opts.batchSize));
      } else {
        assert.equal(flat.length, n); // every item exactly once
        // pools are whole numbers of batches, so only one batch can be short, and only if bs ∤ n
        assert.equal(b1.filter((b) => b.length !== opts.batchSize).length, n % opts.batchSize === 0 ? 0 : 1);
      }
      if (opts.shuffle === false && opts.bucketSize === undefined) assert.deepEqual(flat, Array.from({ length: flat.length }, (_, i) => i));
      if (opts.bucketSize !== undefined && opts.bucketSize === 1 && opts.shuffle !== false) {
        // each batch is a pool: sorted by length inside
        for (const b of b1) assert.deepEqual(b.map((i) => lengths[i]), b.map((i) => lengths[i]).slice().sort((x, y) => x - y));
      }
    }),
    { numRuns: 400 },
  );
});

test('batcher: bucketing reduces padding; different epochs reshuffle; items are carried', () => {
  const lengths = Array.from({ length: 400 }, (_, i) => (i * 37) % 100);
  const pad = (bs: number[][]) => bs.reduce((s, b) => s + b.length * Math.max(...b.map((i) => lengths[i])) - b.reduce((t, i) => t + lengths[i], 0), 0);
  const plain = batchIndices(400, { batchSize: 8, seed: 3 });
  const bucketed = batchIndices(400, { batchSize: 8, seed: 3, bucketSize: 10 }, lengths);
  assert.ok(pad(bucketed) < pad(plain) / 3, `${pad(bucketed)} vs ${pad(plain)}`);
  assert.notDeepEqual(batchIndices(400, { batchSize: 8, seed: 3, epoch: 1 }), plain);
  assert.notDeepEqual(batchIndices(400, { batchSize: 8, seed: 4 }), plain);
  const items = lengths.map((l, i) => ({ i, l }));
  assert.deepEqual(
    batches(items, { batchSize: 8, seed: 3, bucketSize: 10 }, (x) => x.l).map((b) => b.map((x) => x.i)),
    bucketed,
  );
  assert.throws(() => batchIndices(4, { batchSize: 0 }), /batchSize must be a positive integer/);
  assert.throws(() => batchIndices(4, { batchSize: 2, bucketSize: 2 }), /bucketing needs one length per item/);
});
