/** A model's injection sites (declared by each model's own file), from its config. */
import type { ModelConfig } from './config.ts';
import type { ModelSites } from './common.ts';
import { gpt2Sites } from './gpt2.ts';
import { llamaSites } from './llama.ts';
import { bartSites } from './bart.ts';

/** Where a variant may act on the model of `cfg`: attention sites, embedding width, weights by layer. */
export const modelSites = (cfg: ModelConfig): ModelSites =>
  cfg.model_type === 'gpt2' ? gpt2Sites(cfg) : cfg.model_type === 'llama' ? llamaSites(cfg) : bartSites(cfg);
