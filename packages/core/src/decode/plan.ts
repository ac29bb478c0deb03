/**
 * What a tuning variant changes in decoding, as values the decoders take: the graphs to compile
 * (built by the model or by the variant's injection) and the host-side geometry. Decoding knows
 * nothing of variants; prefix/'s `causalPlan` and `seq2seqPlan` make these from an injection.
 */
import type { Graph } from '../ir/graph.ts';

/** A parameter the variant adds to the model's (a bank slot holds its stored activations). */
export interface PlanParam {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Decoder-only decoding: the prefill graph and where the real tokens sit. */
export interface CausalPlan {
  /** Prefill: `input_ids`, `attention_mask`, `position_ids` (+ `source_ids`/`source_mask` with an infix, `user_ids` with a bank) → logits and presents. */
  readonly prefill: Graph;
  /** Virtual positions before the prompt (prefix and embedding activations). */
  readonly virtual: number;
  /** Infix positions per layer (empty without an infix) and the longest of them (0 without). */
  readonly infixAt: ReadonlyMap<number, number>;
  readonly infix: number;
  /** Prefix bank slots (0: none). */
  readonly users: number;
  /** The variant's parameters, and whether they are stored activations (an adapter) rather than training parameters. */
  readonly params: readonly PlanParam[];
  readonly stored: boolean;
}

/** Encoder-decoder decoding: the encoder and prefill graphs. */
export interface Seq2SeqPlan {
  readonly encoder: Graph;
  readonly prefill: Graph;
  /** Prefix bank slots (0: none). */
  readonly users: number;
  /** Whether the graphs take dropout masks (a training-mode injection: not for generation). */
  readonly dropout: boolean;
}
