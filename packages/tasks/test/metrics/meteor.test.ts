/**
 * METEOR 1.5 pieces that need no METEOR jar: the Snowball stemmer against the jar's stemmer
 * class, the -norm normalizer, alignment statistics of the built-in configuration against the
 * jar's statistics, the built-in function-word list, laws, and resource errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { loadMeteorResources, meteor, meteorDetailed, meteorSentence, type MeteorModule } from '../../src/metrics/meteor.ts';
import { snowballEnglish } from '../../src/metrics/meteor-stemmer.ts';
import { meteorNormalize } from '../../src/metrics/meteor-normalize.ts';
import { deriveFunctionWords, FALLBACK_FUNCTION_WORDS, FALLBACK_FUNCTION_WORD_COUNT, FALLBACK_FUNCTION_WORD_LINES } from '../../src/metrics/meteor-function-words.ts';
import { devGroups, fixture, hasDevset, sharedDir } from './coco-e2e.ts';
import { ptbTokenizeLines } from '../../src/metrics/ptb-tokenize.ts';

const builtin = loadMeteorResources({ dataDir: null, env: {} });
if (E.isLeft(builtin)) throw new Error(builtin.left);
const res = builtin.right;

test('Snowball English stems equal the stemmer class inside meteor-1.5.jar', () => {
  const fx = fixture<{ words: Record<string, string> }>('meteor-stems.json');
  const wrong = Object.entries(fx.words).filter(([w, s]) => snowballEnglish(w) !== s).map(([w, s]) => `${w}: ${snowballEnglish(w)} (jar ${s})`);
  assert.deepEqual(wrong, []);
  // hand-checked against the published algorithm
  assert.equal(snowballEnglish('generously'), 'generous');
  assert.equal(snowballEnglish('consignment'), 'consign');
  assert.equal(snowballEnglish('skies'), 'sky');
});

test('stems of the whole E2E dev vocabulary equal the jar', { skip: !hasDevset() && 'no ../shared E2E dev set' }, () => {
  const fx = fixture<{ e2e_dev_vocabulary: { count: number; digest: string } }>('meteor-stems.json').e2e_dev_vocabulary;
  const refs = devGroups().flatMap(([, rs]) => rs);
  const vocab = [...new Set(ptbTokenizeLines(refs).flatMap((l) => l.split(/\s+/).filter((w) => w !== '')))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  assert.equal(vocab.length, fx.count);
  const digest = createHash('sha256').update(vocab.map((w) => `${w}\t${snowballEnglish(w)}`).join('\n'), 'utf8').digest('hex');
  assert.equal(digest, fx.digest);
});

test('-norm normalization (hand-checked)', () => {
  assert.equal(meteorNormalize("It's family-friendly, isn't it?"), "It 's family friendly , isn 't it ?");
  assert.equal(meteorNormalize('costs 1,000.50 dollars.'), 'costs 1,000.50 dollars .');
  assert.equal(meteorNormalize('the U.S.-based firm... ok'), 'the US based firm ... ok');
  assert.equal(meteorNormalize('“quoted” – dash'), '" quoted " - dash');
  // a final dot stays on a listed non-breaking prefix
  assert.equal(meteorNormalize('see Dr. Who', new Map([['Dr', 'any']])), 'see Dr. Who');
  assert.equal(meteorNormalize('see Dr. Who'), 'see Dr . Who');
});

/** jar statistics line: tstLen refLen tstFW refFW, 4 × (tstContent refContent tstFunction refFunction), chunks, tstWM, refWM */
const parseStats = (line: string) => {
  const v = line.split(' ').map(Number);
  const stage = (k: number) => v.slice(4 + 4 * k, 8 + 4 * k);
  return { testLength: v[0], referenceLength: v[1], stages: [0, 1, 2, 3].map(stage), chunks: v[20] };
};

test('built-in resources: alignments equal the jar on single-reference cases (lengths, matches per module, chunks)', () => {
  const fx = fixture<{ cases: { hyp: string; refs: string[]; stats: Record<string, string> }[] }>('meteor-cases.json');
  const configs: [string, MeteorModule[]][] = [['exact', ['exact']], ['exact stem', ['exact', 'stem']]];
  if (res.synonyms !== null) configs.push(['exact stem synonym', ['exact', 'stem', 'synonym']]);
  let checked = 0;
  for (const c of fx.cases.filter((x) => x.refs.length === 1)) {
    for (const [key, modules] of configs) {
      const jar = parseStats(c.stats[key]);
      const ours = meteorDetailed([c.refs], [c.hyp], { resources: res, modules, tokenize: false }).stats[0];
      const label = `${JSON.stringify(c.hyp)} [${key}]`;
      assert.equal(ours.testLength, jar.testLength, label);
      assert.equal(ours.referenceLength, jar.referenceLength, label);
      assert.equal(ours.chunks, jar.chunks, label);
      modules.forEach((_, k) => {
        assert.equal(ours.testContent[k] + ours.testFunction[k], jar.stages[k][0] + jar.stages[k][2], `${label} module ${k} (hyp)`);
        assert.equal(ours.referenceContent[k] + ours.referenceFunction[k], jar.stages[k][1] + jar.stages[k][3], `${label} module ${k} (ref)`);
      });
      checked++;
    }
  }
  assert.ok(checked >= 20);
});

const wikiShard = join(sharedDir(), 'data', 'corpus', 'wikipedia', 'wiki-00.txt.gz');
test('the built-in function-word list is re-derived from the Wikipedia shard', { skip: !existsSync(wikiShard) && 'no ../shared Wikipedia shard' }, () => {
  const lines = gunzipSync(readFileSync(wikiShard)).toString('utf8').split('\n').slice(0, FALLBACK_FUNCTION_WORD_LINES);
  assert.deepEqual(new Set(deriveFunctionWords(lines, FALLBACK_FUNCTION_WORD_COUNT)), FALLBACK_FUNCTION_WORDS);
});

test('hand-checked score: one match out of three words each side', () => {
  // "x a y" vs "p a q", no function words: P = R = 1/3, Fmean = 1/3, 1 chunk over 1 match:
  // Pen = 0.6 · 1^0.2 = 0.6, score = (1/3)(1 − 0.6)
  const noFn = { ...res, functionWords: new Set<string>() };
  const s = meteorSentence(['p a q'], 'x a y', { resources: noFn, modules: ['exact'], tokenize: false });
  assert.ok(Math.abs(s - (1 / 3) * 0.4) < 1e-12, String(s));
});

const words = fc.array(fc.constantFrom('the', 'pub', 'pubs', 'near', 'river', 'cheap', 'food', 'serves', 'serving', 'a', 'of', 'family'), { minLength: 1, maxLength: 10 }).map((w) => w.join(' '));

test('laws: identical text scores 1, scores lie in [0, 1], another reference never lowers a segment', () => {
  const opts = { resources: res, tokenize: false } as const;
  fc.assert(fc.property(words, words, words, (h, r1, r2) => {
    assert.ok(Math.abs(meteorSentence([h], h, opts) - 1) < 1e-12);
    const one = meteorSentence([r1], h, opts);
    assert.ok(one >= 0 && one <= 1);
    assert.ok(meteorSentence([r1, r2], h, opts) >= one - 1e-12);
  }), { numRuns: 150 });
});

test('resource errors are reported, not guessed around', () => {
  const bad = loadMeteorResources({ dataDir: '/nonexistent/meteor' });
  assert.ok(E.isLeft(bad) && /\/nonexistent\/meteor does not exist/.test(bad.left));
  assert.throws(() => meteor([['a']], ['a'], { resources: res, modules: ['exact', 'paraphrase'] }), /paraphrase module needs paraphrase-en.gz/);
  assert.throws(() => meteor([['a'], ['b']], ['a'], { resources: res }), /1 hypotheses but 2 reference lists/);
});
