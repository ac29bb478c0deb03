/**
 * The model families: one record per `model_type`, each defined in the family's own file
 * (`gpt2Family`, `llamaFamily`, `bartFamily`), in a table typed so that a family without its
 * record does not compile. Everything a caller asks a model about itself goes through here
 * (and what follows from its sites, such as its one-line description).
 */
import type { ModelConfig } from './config.ts';
import type { ModelFamily, ModelSites } from './common.ts';
import { gpt2Family } from './gpt2.ts';
import { llamaFamily } from './llama.ts';
import { bartFamily } from './bart.ts';

type ConfigOf<K extends ModelConfig['model_type']> = Extract<ModelConfig, { model_type: K }>;

export const families: { readonly [K in ModelConfig['model_type']]: ModelFamily<ConfigOf<K>> } = {
  gpt2: gpt2Family,
  llama: llamaFamily,
  bart: bartFamily,
};

/** The family record of a config. */
export const familyOf = (c: ModelConfig): ModelFamily<ModelConfig> => families[c.model_type] as ModelFamily<ModelConfig>;

/** Where a variant may act on the model of `cfg`: attention sites, embedding width, weights by layer. */
export const modelSites = (cfg: ModelConfig): ModelSites => familyOf(cfg).sites(cfg);

/** One line about a model: its type and size as its sites count them (`gpt2, 4 layers, width 256, vocab 4096`; BART counts decoder layers). */
export const describeModel = (c: ModelConfig): string => {
  const s = modelSites(c);
  return `${c.model_type}, ${s.layers} layers, width ${s.embedDim}, vocab ${c.vocab_size}`;
};

/** Positions the model can attend over (its learned or RoPE position range: `n_positions`, `max_position_embeddings`). */
export const positionCount = (c: ModelConfig): number => familyOf(c).positions(c);

/** Whether its byte-level BPE tokenizer expects text after a space (`' ' + text`, as the official code encodes GPT-2 and BART examples). */
export const encodesLeadingSpace = (c: ModelConfig): boolean => familyOf(c).leadingSpace;

/** The last position a learned position table holds (GPT-2), or undefined where positions are unbounded (Llama's RoPE). */
export const lastLearnedPosition = (c: ModelConfig): number | undefined => familyOf(c).lastPosition(c);
