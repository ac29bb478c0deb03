/**
 * Recipes and run configuration: precedence (explicit option > recipe > default), the
 * variant options, word-initialised lengths, and what a resumed run may and may not change.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageError } from '../src/cli.ts';
import { trainCommand } from '../src/commands/train.ts';
import { RECIPE_DEFAULTS as DEFAULTS, RECIPES, RecipeName, lowDataInitText, recipeValues, recipesMarkdown } from '@prefix-tuning/tasks';
import { checkResumeOptions, checkResumeVariant, resolveRun, wordsLength, FIELD_OF_OPTION, VARIANT_OPTIONS } from '../src/run/config.ts';

const base = { model: 'm', task: 'e2e', out: 'o' };

test('the paper values of each recipe (as documented in recipes.ts)', () => {
  // independent of the table: the values the sources give (see the module comment of recipes.ts)
  const want: Record<string, Partial<Record<string, unknown>>> = {
    e2e: { epochs: 5, batchSize: 10, lr: 8e-5, prefixLength: 10, mlpHidden: 512, loss: 'sum' },
    webnlg: { epochs: 5, batchSize: 5, lr: 5e-5, prefixLength: 5, mlpHidden: 512 },
    dart: { epochs: 10, batchSize: 5, lr: 5e-5, prefixLength: 10 },
    xsum: { epochs: 30, batchSize: 16, gradAccum: 3, lr: 5e-5, prefixLength: 200, mlpHidden: 800 },
    'low-data': { epochs: 100, lr: 5e-5, warmupSteps: 100, mlpHidden: 512 },
  };
  for (const [name, values] of Object.entries(want))
    for (const [k, v] of Object.entries(values)) assert.equal((RECIPES[name as RecipeName].values as Record<string, unknown>)[k], v, `${name}.${k}`);
  assert.equal(lowDataInitText('e2e'), 'table-to-text:');
  assert.equal(lowDataInitText('xsum'), 'summarize');
  assert.equal(recipeValues('low-data', 'samsum').initText, 'summarize');
});

test('a recipe resolves into the run; without options its values, else the defaults', () => {
  for (const name of Object.keys(RecipeName.keys) as RecipeName[]) {
    const r = resolveRun({ ...base, recipe: name, ...(name === 'low-data' ? { 'max-examples': 50 } : {}) });
    const v = recipeValues(name, 'e2e');
    assert.equal(r.epochs, v.epochs ?? DEFAULTS.epochs);
    assert.equal(r.batchSize, v.batchSize ?? DEFAULTS.batchSize);
    assert.equal(r.lr, v.lr ?? DEFAULTS.lr);
    assert.equal(r.gradAccum, v.gradAccum ?? 1);
    assert.equal(r.loss, v.loss ?? DEFAULTS.loss);
    assert.equal(r.recipe, name);
    assert.equal(r.variant.kind, 'prefix');
    if (r.variant.kind === 'prefix') {
      assert.deepEqual(r.variant.reparam, { kind: 'mlp', hidden: v.mlpHidden ?? DEFAULTS.mlpHidden });
      // low-data: the length comes from the words (0 until tokenised)
      assert.equal(r.variant.length, name === 'low-data' ? 0 : v.prefixLength ?? DEFAULTS.prefixLength);
    }
  }
  const d = resolveRun(base);
  assert.equal(d.epochs, 10); assert.equal(d.batchSize, 5); assert.equal(d.lr, 5e-5); assert.equal(d.recipe, null);
  assert.deepEqual(d.variant, { kind: 'prefix', length: 10, reparam: { kind: 'mlp', hidden: 512 } });
});

test('explicit options win over the recipe, option by option (property)', () => {
  const numeric = { epochs: 'epochs', 'batch-size': 'batchSize', lr: 'lr', 'warmup-steps': 'warmupSteps', 'grad-accum': 'gradAccum', seed: 'seed' } as const;
  fc.assert(fc.property(
    fc.constantFrom(...(Object.keys(RecipeName.keys) as RecipeName[]).filter((r) => r !== 'low-data')),
    fc.record({ epochs: fc.integer({ min: 1, max: 50 }), 'batch-size': fc.integer({ min: 1, max: 64 }), lr: fc.double({ min: 1e-6, max: 1, noNaN: true }), 'warmup-steps': fc.integer({ min: 0, max: 500 }), 'grad-accum': fc.integer({ min: 1, max: 8 }), seed: fc.integer({ min: 0, max: 1e6 }) }, { requiredKeys: [] }),
    fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
    (recipe, given, len) => {
      const r = resolveRun({ ...base, recipe, ...given, ...(len !== undefined ? { 'prefix-length': len } : {}) });
      const v = recipeValues(recipe, 'e2e') as Record<string, unknown>;
      for (const [o, field] of Object.entries(numeric)) {
        const want = (given as Record<string, unknown>)[o] ?? v[field] ?? (DEFAULTS as Record<string, unknown>)[field] ?? (field === 'seed' ? 42 : undefined);
        assert.equal(r[field], want, `${recipe} ${o}`);
      }
      assert.equal(r.variant.kind === 'prefix' && r.variant.length, len ?? v['prefixLength']);
    },
  ), { numRuns: 150 });
});

test('variants from --variant, --variant-json and the prefix options', () => {
  assert.deepEqual(resolveRun({ ...base, variant: 'finetune-top2' }).variant, { kind: 'finetune', layers: { top: 2 } });
  assert.deepEqual(resolveRun({ ...base, variant: 'embedding', reparam: 'direct', 'prefix-length': 3 }).variant, { kind: 'embedding', length: 3, reparam: { kind: 'direct' } });
  assert.deepEqual(resolveRun({ ...base, 'prefix-dropout': 0.2, 'init-text': 'hi there' }).variant,
    { kind: 'prefix', length: 0, reparam: { kind: 'mlp', hidden: 512 }, dropout: 0.2, init: { kind: 'words', text: 'hi there' } });
  const json = { kind: 'compose', parts: [{ kind: 'prefix', length: 4, layers: { top: 1 } }, { kind: 'embedding', length: 2 }] };
  assert.deepEqual(resolveRun({ ...base, 'variant-json': JSON.stringify(json) }).variant, json);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ variant: 'adapter' }, /unknown variant 'adapter'/],
    [{ 'variant-json': '{"kind":"prefix"', }, /not valid JSON/],
    [{ 'variant-json': '{"kind":"prefix","length":-1}' }, /--variant-json/],
    [{ 'variant-json': '{"kind":"prefix","length":2}', 'prefix-length': 3 }, /cannot be combined with --variant-json/],
    [{ variant: 'finetune', 'prefix-length': 3 }, /does not apply to --variant finetune/],
    [{ reparam: 'lstm' }, /--reparam must be mlp or direct/],
    [{ reparam: 'direct', 'mlp-hidden': 8 }, /--mlp-hidden needs --reparam mlp/],
    [{ 'prefix-dropout': 1 }, /--prefix-dropout must be in \[0, 1\)/],
    [{ recipe: 'cnn' }, /unknown recipe 'cnn'/],
    [{ recipe: 'low-data' }, /needs --max-examples/],
    [{ lr: -1 }, /--lr must be a positive number/],
    [{ epochs: 1.5 }, /--epochs must be a positive integer/],
    [{ loss: 'max' }, /--loss must be mean or sum/],
    [{ backend: 'cuda' }, /unknown backend 'cuda'/],
    [{ jsonl: 'x.jsonl' }, /--task or --jsonl, not both/],
    [{ task: 'imdb' }, /unknown task 'imdb'/],
  ];
  for (const [o, re] of bad) assert.throws(() => resolveRun({ ...base, ...o }), (e: unknown) => e instanceof UsageError && re.test(e.message), JSON.stringify(o));
  assert.throws(() => resolveRun({ task: 'e2e', out: 'o' }), /missing required option --model/);
  assert.throws(() => resolveRun({ model: 'm', out: 'o' }), /--task NAME or --jsonl FILE/);
});

test('wordsLength gives word-initialised parts the token count of their words, and nothing else changes', () => {
  fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 20 }), (text, fixed) => {
    const count = (s: string) => s.length; // a stand-in tokenizer: one token per character
    const v = wordsLength({ kind: 'compose', parts: [
      { kind: 'prefix', length: 0, init: { kind: 'words', text } },
      { kind: 'embedding', length: fixed, init: { kind: 'words', text } },
      { kind: 'finetune', layers: 'all' },
    ] }, count);
    assert.deepEqual(v, { kind: 'compose', parts: [
      { kind: 'prefix', length: text.length, init: { kind: 'words', text } },
      { kind: 'embedding', length: fixed, init: { kind: 'words', text } },
      { kind: 'finetune', layers: 'all' },
    ] });
  }));
  assert.throws(() => wordsLength({ kind: 'prefix', length: 0, init: { kind: 'words', text: '' } }, () => 0), /has no tokens/);
});

test('a resumed run accepts its own options and refuses a different value, naming the option', () => {
  const saved = resolveRun({ ...base, recipe: 'e2e', lr: 1e-3, 'max-examples': 200, 'prefix-length': 7 });
  assert.deepEqual(checkResumeOptions({ out: 'o' }, saved).run, saved);
  assert.deepEqual(checkResumeOptions({ out: 'o', lr: 1e-3, recipe: 'e2e', model: 'm', task: 'e2e' }, saved).run, saved);
  const moved = checkResumeOptions({ out: 'o', 'checkpoint-every': 7, backend: 'reference' }, saved).run;
  assert.equal(moved.checkpointEvery, 7); assert.equal(moved.backend, 'reference');
  for (const [o, v] of [['lr', 2e-3], ['epochs', 9], ['seed', 1], ['max-examples', 100], ['model', 'other'], ['loss', 'mean'], ['batch-size', 3]] as const)
    assert.throws(() => checkResumeOptions({ out: 'o', [o]: v }, saved), (e: unknown) => e instanceof UsageError && e.message.startsWith(`--${o} gives`), o);
  const given = checkResumeOptions({ out: 'o', 'prefix-length': 8 }, saved).variant!;
  assert.throws(() => checkResumeVariant(given, saved.variant, () => 1), /--prefix-length gives variant/);
  checkResumeVariant(checkResumeOptions({ out: 'o', 'prefix-length': 7 }, saved).variant!, saved.variant, () => 1);
  // a word-initialised run: the words' token count is compared, not the placeholder
  const words = { ...saved, variant: wordsLength(resolveRun({ ...base, 'init-text': 'abc' }).variant, (s) => s.length) };
  checkResumeVariant(checkResumeOptions({ out: 'o', 'init-text': 'abc' }, words).variant!, words.variant, (s) => s.length);
  assert.throws(() => checkResumeVariant(checkResumeOptions({ out: 'o', 'init-text': 'abcd' }, words).variant!, words.variant, (s) => s.length), /--init-text gives variant/);
});

test('every train option is either mapped to a run field or is a run-control flag', () => {
  const control = new Set(['out', 'resume', 'quiet', 'download', 'device', 'steps-per-run']);
  for (const o of trainCommand.options) assert.ok(o.name in FIELD_OF_OPTION || control.has(o.name), o.name);
  for (const o of VARIANT_OPTIONS) assert.equal(FIELD_OF_OPTION[o], 'variant');
  const md = recipesMarkdown();
  for (const name of Object.keys(RECIPES)) assert.match(md, new RegExp(`^\\| ${name} \\|`, 'm'));
});

test('--resume keeps every saved run-control value unless its option is given, and says what changed', () => {
  const saved = resolveRun({ ...base, 'checkpoint-every': 5, backend: 'reference', 'on-nonfinite': 'skip' });
  const kept = checkResumeOptions({ out: 'o' }, saved);
  assert.equal(kept.run.checkpointEvery, 5);
  assert.equal(kept.run.backend, 'reference');
  assert.equal(kept.run.onNonFinite, 'skip');
  assert.deepEqual(kept.changed, []);
  const moved = checkResumeOptions({ out: 'o', 'checkpoint-every': 9, 'on-nonfinite': 'stop', backend: 'reference' }, saved);
  assert.equal(moved.run.checkpointEvery, 9);
  assert.deepEqual(moved.changed.sort(), ['--checkpoint-every 5 -> 9', '--on-nonfinite skip -> stop']);
  // a run saved before --on-nonfinite existed decodes and resumes with the default
  const { onNonFinite: _, ...old } = saved;
  assert.equal(checkResumeOptions({ out: 'o' }, old).run.onNonFinite, undefined);
  assert.throws(() => resolveRun({ ...base, 'on-nonfinite': 'ignore' }), /--on-nonfinite must be stop or skip/);
});

test('the tiny-e2e recipe holds the sweep\'s best setting for the embedded model (experiments/e2e-sweep-prefix)', () => {
  const v = RECIPES['tiny-e2e'].values;
  assert.deepEqual([v.epochs, v.batchSize, v.lr, v.prefixLength, v.mlpHidden, v.loss], [3, 10, 5e-3, 20, 512, 'mean']);
  const r = resolveRun({ ...base, recipe: 'tiny-e2e', lr: 1e-3 });
  assert.equal(r.lr, 1e-3); // an explicit option still wins
  assert.equal(r.epochs, 3);
  assert.match(recipesMarkdown(), /\| tiny-e2e \| 3 \| 10 \| 0\.005 \|/);
});
