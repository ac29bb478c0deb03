/**
 * One geometry for every consumer (training graphs, decoding plans, the host's masks and
 * position ids, the training position budget, the CLI): the positions a variant adds, read
 * from its injection's `geometry` (the sum over its parts, per site and layer) and its parts'
 * own lengths.
 */
import { type ModelConfig, isEncoderDecoder } from '../models/config.ts';
import type { Injection, InjectedPart } from './part.ts';

/** The longest of per-layer lengths (0 for none). */
export const longest = (m: ReadonlyMap<number, number> | undefined): number => Math.max(0, ...(m?.values() ?? []));

/** Per-layer positions before the input (`prefix`) or between source and target (`infix`) at the self-attention site; layers without any are absent. */
export const kvLengths = (inj: Injection, where: 'prefix' | 'infix'): Map<number, number> =>
  new Map(where === 'infix' ? inj.geometry.infix : inj.geometry.past.get('self') ?? []);

/** Number of virtual positions the variant puts before the prompt (to build masks and positions on the host). */
export const virtualPrefixLength = (cfg: ModelConfig, inj: Injection): number => {
  void cfg;
  return longest(inj.geometry.past.get('self')) + inj.geometry.embeddings;
};

/** Each part's longest self-attention past (before the input), summed. */
const selfPastSum = (parts: readonly InjectedPart[]): number => parts.reduce((s, p) => s + longest(p.lengths.past?.get('self')), 0);

/**
 * Positions the variant takes from every training sequence, so examples are cut to the model's
 * positions minus this: embedding, prefix and infix activations all shift the real tokens of a
 * decoder-only model; for BART the embedding prefix shifts the source and the decoder's
 * self-attention prefix the target, and each side gets the same length, so the larger counts.
 */
export const trainingVirtualPositions = (cfg: ModelConfig, inj: Injection): number =>
  isEncoderDecoder(cfg)
    ? Math.max(inj.geometry.embeddings, selfPastSum(inj.parts))
    : inj.geometry.embeddings + selfPastSum(inj.parts) + inj.parts.reduce((s, p) => s + longest(p.lengths.infix), 0);

/** Positions an infix puts between the source and the target (the longest layer's; 0 without one). */
export const infixLength = (inj: Injection): number => longest(inj.geometry.infix);

/** Whether the variant has an infix (its prefill and decoding take the source separately). */
export const hasInfix = (inj: Injection): boolean => infixLength(inj) > 0;

/**
 * Positions a variant takes from BART's learned position tables: `source` on the encoder side
 * (virtual embedding tokens before the source), `target` on the decoder side (the decoder
 * self-attention prefix, after which decoder positions start).
 */
export const bartVirtualPositions = (inj: Injection): { source: number; target: number } =>
  ({ source: inj.geometry.embeddings, target: longest(inj.geometry.past.get('self')) });
