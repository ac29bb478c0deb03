/**
 * Optimizer configuration (io-ts codec: the single source of the type). The learning rate
 * and the step count are graph inputs, so the host computes warmup and decay schedules.
 */
import * as t from 'io-ts';

const Unit = t.refinement(t.number, (n) => n >= 0 && n < 1, 'UnitInterval');
const NonNegative = t.refinement(t.number, (n) => Number.isFinite(n) && n >= 0, 'NonNegative');
const Positive = t.refinement(t.number, (n) => Number.isFinite(n) && n > 0, 'Positive');
const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1, 'PositiveInt');

export const AdamWConfigC = t.intersection([
  t.type({
    beta1: Unit,
    beta2: Unit,
    eps: Positive,
    /** Decoupled weight decay (applied to parameters whose spec has `decay: true`). */
    weightDecay: NonNegative,
  }),
  t.partial({
    /**
     * `torch` (default): torch.optim.AdamW, decay first, eps added to sqrt(v̂).
     * `hf`: transformers' legacy AdamW (correct_bias=True), as the original prefix-tuning
     * code ran it: eps added to sqrt(v), bias corrections folded into the step size, decay
     * applied after the update.
     */
    flavor: t.keyof({ torch: null, hf: null }),
    /** Clip the global gradient norm to this value (PyTorch clip_grad_norm_); absent: no clipping. */
    maxGradNorm: Positive,
    /**
     * Gradient accumulation over this many micro-batches (default 1). The train step then
     * keeps a gradient accumulator in state and takes an `apply` input (see step.ts).
     */
    accumulation: PositiveInt,
    /** With accumulation: average the accumulated gradients (true, default) or sum them. */
    averageAccumulated: t.boolean,
  }),
], 'AdamWConfig');
export type AdamWConfig = t.TypeOf<typeof AdamWConfigC>;

/** transformers' defaults (betas 0.9/0.999, eps 1e-8, no decay), as the paper's runs. */
export const defaultAdamW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
