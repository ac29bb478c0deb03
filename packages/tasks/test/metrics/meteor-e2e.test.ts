/**
 * METEOR against the official pycocoevalcap scorer (meteor-1.5.jar) on the hand-written cases and
 * the E2E dev sets (fixtures/metrics/meteor-cases.json, coco-e2e-dev.json). With METEOR's own
 * resources (PREFIX_TUNING_METEOR_DATA, or the pycocoevalcap oracle venv on this machine) the
 * scores must be equal; the built-in configuration (no jar) must stay within the measured gap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as E from 'fp-ts/lib/Either.js';
import { loadMeteorResources, meteorDetailed, type MeteorModule } from '../../src/metrics/meteor.ts';
import { cocoTokenizeCorpus } from '../../src/metrics/coco.ts';
import { buildSet, fixture, hasDevset, meteorDataDir, type SetName } from './coco-e2e.ts';

const fx = fixture('coco-e2e-dev.json');
const cases = fixture('meteor-cases.json');
const dataDir = meteorDataDir();
const noJar = dataDir === undefined && 'no METEOR data (set PREFIX_TUNING_METEOR_DATA to pycocoevalcap/meteor)';
const jarRes = dataDir === undefined ? undefined : loadMeteorResources({ dataDir });
const jar = jarRes !== undefined && E.isRight(jarRes) ? jarRes.right : undefined;
const MODULES: Record<string, MeteorModule[]> = {
  exact: ['exact'],
  'exact stem': ['exact', 'stem'],
  'exact stem synonym': ['exact', 'stem', 'synonym'],
  'exact stem synonym paraphrase': ['exact', 'stem', 'synonym', 'paraphrase'],
};
const SETS: SetName[] = ['heldout-first', 'heldout-last', 'template'];
const corpora = hasDevset() ? new Map(SETS.map((n) => { const s = buildSet(n); return [n, cocoTokenizeCorpus(s.refs, s.hyps)]; })) : new Map();

test('hand-written cases: every module configuration equals the jar (scores and statistics)', { skip: noJar }, () => {
  assert.ok(jar !== undefined, jarRes !== undefined && E.isLeft(jarRes) ? jarRes.left : 'resources');
  for (const [key, modules] of Object.entries(MODULES)) {
    for (const c of cases.cases) {
      const d = meteorDetailed([c.refs], [c.hyp], { resources: jar, modules, tokenize: false });
      assert.ok(Math.abs(d.score - c.score[key]) < 1e-12, `${JSON.stringify(c.hyp)} [${key}]: ours ${d.score}, jar ${c.score[key]}`);
      const st = d.stats[0];
      const pad = (xs: readonly number[]) => [0, 1, 2, 3].map((i) => xs[i] ?? 0);
      const line = [st.testLength, st.referenceLength, st.testFunctionWords, st.referenceFunctionWords,
        ...[0, 1, 2, 3].flatMap((k) => [pad(st.testContent)[k], pad(st.referenceContent)[k], pad(st.testFunction)[k], pad(st.referenceFunction)[k]]),
        st.chunks];
      assert.deepEqual(line, c.stats[key].split(' ').slice(0, 21).map(Number), `${JSON.stringify(c.hyp)} [${key}]`);
    }
    const all = meteorDetailed(cases.cases.map((c: any) => c.refs), cases.cases.map((c: any) => c.hyp), { resources: jar, modules, tokenize: false });
    assert.ok(Math.abs(all.score - cases.corpus_untokenized[key]) < 1e-12, `corpus [${key}]`);
  }
});

for (const name of SETS) {
  test(`E2E dev ${name}: METEOR with the jar's resources equals pycocoevalcap (corpus and segments)`, { skip: noJar || (!hasDevset() && 'no ../shared E2E dev set') }, () => {
    const c = corpora.get(name);
    const exp = fx.sets[name];
    const full = meteorDetailed(c.refs, c.hyps, { resources: jar, tokenize: false });
    assert.deepEqual(full.modules, MODULES['exact stem synonym paraphrase']);
    // required: within 0.002; measured: equal to rounding
    assert.ok(Math.abs(full.score - exp.METEOR) < 1e-9, `ours ${full.score}, official ${exp.METEOR}`);
    const bad = full.segments.map((v, i) => [i, v, exp.segment_scores.METEOR[i]]).filter(([, v, e]) => Math.abs(v - e) > 1e-6);
    assert.deepEqual(bad, []);
    const noPara = meteorDetailed(c.refs, c.hyps, { resources: jar, modules: MODULES['exact stem synonym'], tokenize: false });
    assert.ok(Math.abs(noPara.score - exp.METEOR_by_modules['exact stem synonym']) < 1e-9, `-m 'exact stem synonym': ours ${noPara.score}`);
  });
}

for (const name of SETS) {
  test(`E2E dev ${name}: the built-in configuration stays within the measured gap`, { skip: !hasDevset() && 'no ../shared E2E dev set' }, () => {
    const c = corpora.get(name);
    const exp = fx.sets[name];
    const d = meteorDetailed(c.refs, c.hyps, { dataDir: null, tokenize: false });
    const key = d.modules.join(' ');
    // only the function-word list differs from the jar with the same modules (measured ≤ 0.001)
    assert.ok(Math.abs(d.score - exp.METEOR_by_modules[key]) < 0.0015, `${key}: ours ${d.score}, jar ${exp.METEOR_by_modules[key]}`);
    // missing modules (paraphrase; synonym without WordNet) cost up to ~0.006 against full METEOR
    assert.ok(Math.abs(d.score - exp.METEOR) < (d.modules.includes('synonym') ? 0.004 : 0.0065), `${key} vs full: ${d.score - exp.METEOR}`);
  });
}
