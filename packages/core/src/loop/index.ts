/**
 * `@prefix-tuning/core/train`: the training loop (`train`: micro-batches, accumulation, dev
 * evaluation, early stopping, checkpoint hooks), AdamW and the train-step graphs, non-finite
 * checks, and perplexity.
 */
export * from '../train/index.ts';
export * from './trainer.ts';
export * from './finite.ts';
export * from './perplexity.ts';
