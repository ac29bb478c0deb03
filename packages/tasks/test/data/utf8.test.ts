/**
 * Bytes that are not UTF-8 are refused with their line and byte offset instead of becoming
 * U+FFFD: the validator against Node's `buffer.isUtf8`, the streaming decoder against the
 * whole-file one at every chunk size, and the loaders' located refusal.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import fc from 'fast-check';
import { validUtf8Prefix, decodeUtf8, textChunks, InvalidUtf8, readText } from '../../src/data/text.ts';
import { loadE2E } from '../../src/data/e2e.ts';
import { loadSeq2SeqJsonl } from '../../src/data/jsonl.ts';
import { left, tempDir } from './helpers.ts';

const { dir, cleanup } = tempDir('pt-utf8-');
after(cleanup);

/** Mostly text (ASCII, 2-4 byte characters, newlines), with stray bytes sometimes. */
const bytesArb = fc.array(fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }).map((s) => [...Buffer.from(s, 'utf8')]) },
  { weight: 1, arbitrary: fc.constant([10]) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0x80, max: 0xff }), { minLength: 1, maxLength: 3 }) },
), { maxLength: 40 }).map((xs) => Uint8Array.from(xs.flat()));

/** The longest prefix Node calls UTF-8: where the first bad sequence starts. */
const oracleOffset = (b: Uint8Array): number => {
  for (let k = b.length; k >= 0; k--) if (isUtf8(b.subarray(0, k))) return k;
  return 0;
};
const linesBefore = (b: Uint8Array, at: number) => 1 + b.subarray(0, at).filter((c) => c === 10).length;

test('validUtf8Prefix is where Node\'s isUtf8 stops holding; decodeUtf8 is Buffer.toString or a located refusal', () => {
  fc.assert(fc.property(bytesArb, (b) => {
    const at = oracleOffset(b);
    assert.equal(validUtf8Prefix(b), at);
    if (at === b.length) {
      assert.equal(decodeUtf8(b), Buffer.from(b).toString('utf8'));
    } else {
      assert.throws(() => decodeUtf8(b), (e: unknown) => e instanceof InvalidUtf8 && e.offset === at && e.line === linesBefore(b, at) && e.byte === b[at]);
    }
  }), { numRuns: 500 });
});

let n = 0;
test('textChunks at any chunk size yields the same text, or the same located refusal', async () => {
  await fc.assert(fc.asyncProperty(bytesArb, fc.integer({ min: 1, max: 9 }), async (b, size) => {
    const file = join(dir, `t${n++}.txt`);
    writeFileSync(file, b);
    let text = '';
    let err: unknown;
    try {
      for await (const c of textChunks(file, size)) text += c;
    } catch (e) {
      err = e;
    }
    const at = oracleOffset(b);
    if (at === b.length) {
      assert.equal(err, undefined);
      const whole = Buffer.from(b).toString('utf8');
      assert.equal(text, whole.charCodeAt(0) === 0xfeff ? whole.slice(1) : whole);
    } else {
      assert.ok(err instanceof InvalidUtf8, String(err));
      assert.deepEqual([err.offset, err.line, err.byte], [at, linesBefore(b, at), b[at]]);
    }
  }), { numRuns: 200 });
});

test('loaders refuse a Latin-1 byte in one located line (E2E csv, JSON lines, whole-file reads)', async () => {
  const csv = join(dir, 'latin1.csv');
  writeFileSync(csv, Buffer.concat([Buffer.from('mr,ref\n"name[Aromi]","Aromi is good."\n"name[Caf'), Buffer.from([0xe9]), Buffer.from(']","A café."\n')]));
  const e = await left(loadE2E(csv));
  assert.deepEqual([e.kind, e.line], ['syntax', 3]);
  assert.match(e.reason, /^byte 0xe9 at byte offset 47 is not UTF-8 \(the file must be UTF-8 text/);
  const jsonl = join(dir, 'latin1.jsonl');
  writeFileSync(jsonl, Buffer.concat([Buffer.from('{"source": "a", "target": "b"}\n{"source": "'), Buffer.from([0xff]), Buffer.from('", "target": "c"}\n')]));
  const j = await left(loadSeq2SeqJsonl(jsonl));
  assert.deepEqual([j.kind, j.line], ['syntax', 2]);
  const r = await readText(jsonl);
  assert.ok(r._tag === 'Left' && r.left.line === 2 && /byte 0xff at byte offset 43/.test(r.left.reason));
});
