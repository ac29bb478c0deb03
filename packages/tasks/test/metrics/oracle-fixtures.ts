/** Codecs and loaders of the BLEU/NIST/sacreBLEU oracle fixtures (tools/metrics_oracle_bleu.py). */
import * as t from 'io-ts';
import { Rule, decodeFixture } from './shared-sets.ts';

const nums = t.array(t.number);
const Segment = t.type({ ref_length: t.number, match: nums, tst: nums, ref: nums, tst_info: nums });

/** What the scorers said about one corpus. */
export const OracleScores = t.type({
  e2e_metrics: t.type({ BLEU: t.number, NIST: t.number }),
  mteval: t.type({
    bleu: t.number,
    nist: t.number,
    bleu_seg: nums,
    nist_seg: nums,
    totals: t.type({ ref_length: t.number, match: nums, tst: nums, ref: nums, tst_info: nums }),
    first_segments: t.array(Segment),
  }),
  pymteval: t.type({ BLEU: t.union([t.number, t.null]), NIST: t.union([t.number, t.null]) }),
  sacrebleu: t.type({
    bleu: t.number, bleu_sys_len: t.number, bleu_ref_len: t.number, bleu_counts: nums, bleu_totals: nums,
    chrf: t.number, 'chrf++': t.number, ter: t.number, bleu_sent: nums, chrf_sent: nums, ter_sent: nums,
  }),
});
export type OracleScores = t.TypeOf<typeof OracleScores>;

const Oracles = t.type({ e2e_metrics_commit: t.string, perl: t.string, sacrebleu: t.string });

export const CasesFixture = t.type({
  oracles: Oracles,
  cases: t.array(t.intersection([t.type({ id: t.string, hyps: t.array(t.string), refs: t.array(t.array(t.string)) }), OracleScores])),
});

export const SetsFixture = t.type({
  oracles: Oracles,
  sets: t.array(t.intersection([
    t.type({ id: t.string, rule: Rule, n: t.number, sha256: t.type({ source: t.string, refs_txt: t.string, hyp_txt: t.string }) }),
    OracleScores,
  ])),
});

export const casesFixture = decodeFixture(CasesFixture, 'mteval_sacrebleu_cases.json');

/** The real-data sets. */
export const setsFixture = decodeFixture(SetsFixture, 'mteval_sacrebleu.json');
