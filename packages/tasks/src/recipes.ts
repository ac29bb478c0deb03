/**
 * Training recipes (`@prefix-tuning/tasks`): the paper's hyperparameters as presets, each value overridable option by
 * option. Where a value comes from is recorded beside it (`source`), and printed by
 * `prefix-tune train --help`.
 *
 * Sources (read for this file):
 * - [code] the official implementation, github.com/XiangLi1999/PrefixTuning:
 *   `gpt2/train_e2e.py` defaults (mode data2text = E2E: --epoch 5, --bsz 10, --learning_rate
 *   5e-05, --preseqlen 10, --mid_dim 512, --weight_decay 0, --objective_mode 1 = per-sentence
 *   summed loss; low-data runs: --warmup_steps 100, --max_steps 400), its README commands
 *   (WebNLG: --preseqlen 5 --epoch 5 --learning_rate 0.00005 --bsz 5; XSum: --preseqlen 200
 *   --bsz 16 --epoch 30 --gradient_accumulation_step 3 --learning_rate 0.00005 --mid_dim 800),
 *   and `gpt2/train_control.py` (low-data: the prefix length is the number of tokens of the
 *   initialisation words, and the MLP is fitted to those words' activations — by 500 Adam
 *   steps there; here by the library's exact least-squares fit, core `prefix/init.ts`). The
 *   trainer is Hugging Face's (transformers' AdamW, linear schedule, max_grad_norm 1.0).
 * - [paper] Li & Liang (2021), §5: "a default setting trains for 10 epochs, using a batch size
 *   of 5, a learning rate of 5·10⁻⁵ and a prefix length of 10"; MLP hidden 512 (table-to-text)
 *   and 800 (summarization); E2E learning rate 8·10⁻⁵ and DART 10 epochs from the appendix
 *   table. The appendix table itself could not be retrieved in this environment, so these two
 *   values are not re-verified.
 */
import * as t from 'io-ts';

export const RecipeName = t.keyof({ e2e: null, webnlg: null, dart: null, xsum: null, 'low-data': null, 'tiny-e2e': null }, 'RecipeName');
export type RecipeName = t.TypeOf<typeof RecipeName>;

/** The hyperparameters a recipe may set (all optional: the rest fall back to the defaults). */
export interface RecipeValues {
  readonly epochs?: number;
  readonly batchSize?: number;
  readonly lr?: number;
  readonly warmupSteps?: number;
  readonly weightDecay?: number;
  readonly maxGradNorm?: number | null;
  readonly gradAccum?: number;
  readonly loss?: 'mean' | 'sum';
  readonly adam?: 'torch' | 'hf';
  readonly prefixLength?: number;
  readonly mlpHidden?: number;
  /** Initialise from the activations of these words (length = their token count unless --prefix-length). */
  readonly initText?: string;
}

export interface Recipe {
  readonly summary: string;
  readonly values: RecipeValues;
  readonly source: string;
}

/** Defaults without a recipe: the paper's default setting (§5) with Hugging Face's trainer defaults. */
export const DEFAULTS = {
  epochs: 10, batchSize: 5, lr: 5e-5, warmupSteps: 0, weightDecay: 0, maxGradNorm: 1 as number | null, gradAccum: 1,
  loss: 'mean' as 'mean' | 'sum', adam: 'torch' as 'torch' | 'hf', prefixLength: 10, mlpHidden: 512,
} as const;

/** The official code's training flavour: per-sentence summed loss, transformers' AdamW. */
const official = { loss: 'sum', adam: 'hf', warmupSteps: 0, weightDecay: 0, maxGradNorm: 1 } as const;

export const RECIPES: Readonly<Record<RecipeName, Recipe>> = {
  e2e: {
    summary: 'E2E (GPT-2): 5 epochs, batch 10, lr 8e-5, prefix 10, MLP 512',
    values: { ...official, epochs: 5, batchSize: 10, lr: 8e-5, prefixLength: 10, mlpHidden: 512 },
    source: 'epochs/batch/prefix/MLP: official train_e2e.py defaults [code]; lr 8e-5: paper appendix [paper, not re-verified]',
  },
  webnlg: {
    summary: 'WebNLG (GPT-2): 5 epochs, batch 5, lr 5e-5, prefix 5, MLP 512',
    values: { ...official, epochs: 5, batchSize: 5, lr: 5e-5, prefixLength: 5, mlpHidden: 512 },
    source: 'official README command for webnlg [code]',
  },
  dart: {
    summary: 'DART (GPT-2): 10 epochs, batch 5, lr 5e-5, prefix 10, MLP 512',
    values: { ...official, epochs: 10, batchSize: 5, lr: 5e-5, prefixLength: 10, mlpHidden: 512 },
    source: '10 epochs, lr 5e-5: paper appendix [paper, not re-verified]; batch 5, prefix 10: paper default setting §5',
  },
  xsum: {
    summary: 'XSum (BART): 30 epochs, batch 16 x 3 accumulated, lr 5e-5, prefix 200, MLP 800',
    values: { epochs: 30, batchSize: 16, gradAccum: 3, lr: 5e-5, prefixLength: 200, mlpHidden: 800, loss: 'mean', adam: 'hf', warmupSteps: 0, weightDecay: 0, maxGradNorm: 1 },
    source: 'official README command for xsum [code] (prefix 100, batch 14 in the paper appendix [paper, not re-verified])',
  },
  'low-data': {
    summary: 'low-data (50-500 examples): 100 epochs, batch 5, lr 5e-5, warmup 100, MLP 512, init from "table-to-text:" / "summarize"',
    values: { ...official, epochs: 100, batchSize: 5, lr: 5e-5, warmupSteps: 100, mlpHidden: 512 },
    source: 'warmup 100, lr 5e-5, init from real words: official train_e2e.py/train_control.py [code]; 100 epochs: within the paper range 100-200 [paper], batch 5: paper default',
  },
  'tiny-e2e': {
    summary: 'the embedded tiny-gpt2-en on E2E: 3 epochs, batch 10, lr 5e-3, prefix 20, MLP 512 (the paper\'s 5e-5 barely moves a 4-layer model in a few hundred steps)',
    values: { epochs: 3, batchSize: 10, lr: 5e-3, warmupSteps: 0, weightDecay: 0, maxGradNorm: 1, loss: 'mean', adam: 'torch', prefixLength: 20, mlpHidden: 512 },
    source: 'measured here: experiments/e2e-sweep-prefix (lr 1e-3..5e-2 x prefix 10/MLP 256 and 20/MLP 512 on 2,000 examples; 5e-3 best for both, 1.5e-2 and above diverge)',
  },
};

/** Summarization tasks (the low-data recipe initialises them from "summarize"). */
const SUMMARIZATION = new Set(['xsum', 'dialogsum', 'samsum', 'bbc-news', 'scitldr']);

/** The words a low-data run is initialised from for a task (the official code's lowdata tokens). */
export const lowDataInitText = (task: string | undefined): string =>
  task !== undefined && SUMMARIZATION.has(task) ? 'summarize' : 'table-to-text:';

/** A recipe's values for a task (the low-data recipe picks its initialisation words by task). */
export const recipeValues = (name: RecipeName, task: string | undefined): RecipeValues =>
  name === 'low-data' ? { ...RECIPES[name].values, initText: lowDataInitText(task) } : RECIPES[name].values;

const fmtLr = (x: number): string => (x < 1e-3 ? x.toExponential() : String(x));

/** The recipes table in markdown (README and `--help`). */
export const recipesMarkdown = (): string => {
  const rows = Object.entries(RECIPES).map(([name, r]) => {
    const v = r.values;
    return `| ${name} | ${v.epochs ?? DEFAULTS.epochs} | ${v.batchSize ?? DEFAULTS.batchSize}${v.gradAccum && v.gradAccum > 1 ? ` x ${v.gradAccum}` : ''} | ${fmtLr(v.lr ?? DEFAULTS.lr)} | ${v.warmupSteps ?? 0} | ${v.prefixLength ?? (name === 'low-data' ? 'words' : DEFAULTS.prefixLength)} | ${v.mlpHidden ?? DEFAULTS.mlpHidden} | ${v.loss ?? DEFAULTS.loss} | ${r.source} |`;
  });
  return [
    '| recipe | epochs | batch | lr | warmup | prefix | MLP | loss | source |',
    '|---|---|---|---|---|---|---|---|---|',
    `| (none) | ${DEFAULTS.epochs} | ${DEFAULTS.batchSize} | ${fmtLr(DEFAULTS.lr)} | 0 | ${DEFAULTS.prefixLength} | ${DEFAULTS.mlpHidden} | ${DEFAULTS.loss} | paper §5 default setting |`,
    ...rows,
  ].join('\n');
};
