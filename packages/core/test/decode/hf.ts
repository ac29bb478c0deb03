import type { GenerateOptions } from '../../src/decode/search.ts';

/** transformers' generate kwargs -> our options. */
export const hfOptions = (kw: Record<string, unknown>, eos: readonly number[]): GenerateOptions => ({
  maxNewTokens: kw['max_new_tokens'] as number,
  numBeams: (kw['num_beams'] as number | undefined) ?? 1,
  eosTokenIds: eos,
  ...(kw['length_penalty'] !== undefined ? { lengthPenalty: kw['length_penalty'] as number } : {}),
  ...(kw['min_length'] !== undefined ? { minLength: kw['min_length'] as number } : {}),
  ...(kw['no_repeat_ngram_size'] !== undefined ? { noRepeatNgramSize: kw['no_repeat_ngram_size'] as number } : {}),
  ...(kw['bad_words_ids'] !== undefined ? { badWordsIds: kw['bad_words_ids'] as number[][] } : {}),
  ...(kw['early_stopping'] !== undefined ? { earlyStopping: kw['early_stopping'] as boolean } : {}),
  ...(kw['pad_token_id'] !== undefined ? { padTokenId: kw['pad_token_id'] as number } : {}),
  ...(kw['num_return_sequences'] !== undefined ? { numReturnSequences: kw['num_return_sequences'] as number } : {}),
});

