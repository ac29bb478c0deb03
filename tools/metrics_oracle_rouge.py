#!/usr/bin/env python3
"""Oracle for ROUGE-1/2/L/Lsum (Google's rouge-score) and its Porter stemmer (NLTK).

Writes
* fixtures/metrics/rouge.json: for each selection rule (tools/metrics_oracle_common.py) the
  corpus means of precision/recall/F of rouge1, rouge2, rougeL and rougeLsum computed by
  `rouge_score.rouge_scorer.RougeScorer(..., use_stemmer=S).score_multi(refs, hyp)` (max over
  the references by F-measure) with S in {false, true}, and the per-example scores of the first
  PER_EXAMPLE examples. The mean is the plain arithmetic mean over examples (rouge-score's
  BootstrapAggregator "mid" is a bootstrap estimate of the same quantity).
* fixtures/metrics/porter.json: `nltk.stem.porter.PorterStemmer()` (the default mode,
  NLTK_EXTENSIONS, which is what rouge-score's DefaultTokenizer constructs) on a word list
  generated here: the examples of Porter's paper, NLTK's irregular forms and synthetic words
  (seeded random consonant/vowel stems + every suffix of every rule), and a digest of the stems
  of the whole vocabulary of the summarization sets (rebuilt by the test from ../shared).

Requirements: /work/venvs/metrics with rouge-score and nltk from PyPI (see metrics_oracle_bleu.py).
Run:  /work/venvs/metrics/bin/python tools/metrics_oracle_rouge.py
"""
from __future__ import annotations

import random
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from nltk.stem import porter
from rouge_score import rouge_scorer, tokenize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_oracle_common import REPO, build_set, sha256_bytes, sha256_file, shared_dir, write_json  # noqa: E402

DIALOGSUM_TEST = "data/summarization/dialogsum/dialogsum.test.jsonl"
SAMSUM_TEST = "data/summarization/samsum/test.jsonl"
TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
PER_EXAMPLE = 25

SETS = [
    {"id": "dialogsum-test-s1-vs-s23",
     "rule": {"kind": "jsonl-fields", "source": DIALOGSUM_TEST, "hyp_field": "summary1",
              "ref_fields": ["summary2", "summary3"]}},
    {"id": "dialogsum-test-s1-vs-s2",
     "rule": {"kind": "jsonl-fields", "source": DIALOGSUM_TEST, "hyp_field": "summary1", "ref_fields": ["summary2"]}},
    {"id": "dialogsum-test-lead3",
     "rule": {"kind": "lead", "source": DIALOGSUM_TEST, "lines": 3, "ref_fields": ["summary1", "summary2", "summary3"]}},
    {"id": "samsum-test-lead3",
     "rule": {"kind": "lead", "source": SAMSUM_TEST, "lines": 3, "ref_fields": ["summary"]}},
    {"id": "samsum-test-lead1",
     "rule": {"kind": "lead", "source": SAMSUM_TEST, "lines": 1, "ref_fields": ["summary"]}},
]


def rouge_set(hyps: list[str], refs: list[list[str]], use_stemmer: bool) -> dict:
    scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=use_stemmer)
    scores = [scorer.score_multi(r, h) for h, r in zip(hyps, refs)]
    out = {}
    for t in TYPES:
        p = [s[t].precision for s in scores]
        r = [s[t].recall for s in scores]
        f = [s[t].fmeasure for s in scores]
        out[t] = {"precision": float(np.mean(p)), "recall": float(np.mean(r)), "fmeasure": float(np.mean(f)),
                  "examples": [[p[i], r[i], f[i]] for i in range(min(PER_EXAMPLE, len(scores)))]}
    return out


PAPER_WORDS = """caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled
sized hopping tanned falling hissing fizzed failing filing happy sky relational conditional rational
valenci hesitanci digitizer conformabli radicalli differentli vileli analogousli vietnamization
predication operator feudalism decisiveness hopefulness callousness formaliti sensitiviti sensibiliti
triplicate formative formalize electriciti electrical hopeful goodness revival allowance inference
airliner gyroscopic adjustable defensible irritant replacement adjustment dependent adoption homologou
communism activate angulariti homologous effective bowdlerize probate rate cease controll roll
generalizations oscillators dying lying tying news innings outings cannings howe proceed exceed succeed
skies spied tried flies enjoy enjoyment spy fly try dies died lied ties tied logically archaeology
hopefully carelessly typically fully biology dialogue summaries meeting meetings dialogues conversation
restaurant restaurants located family friendly customer rating""".split()

SUFFIXES = sorted({
    "sses", "ies", "ss", "s", "eed", "ed", "ing", "at", "bl", "iz", "y", "ational", "tional", "enci", "anci",
    "izer", "bli", "abli", "alli", "entli", "eli", "ousli", "ization", "ation", "ator", "alism", "iveness",
    "fulness", "ousness", "aliti", "iviti", "biliti", "fulli", "logi", "icate", "ative", "alize", "iciti",
    "ical", "ful", "ness", "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
    "sion", "tion", "ion", "ou", "ism", "ate", "iti", "ous", "ive", "ize", "e", "ll", "ied", "yy", "ying"})


def synthetic_words(seed: int = 20240601, n_stems: int = 120) -> list[str]:
    rng = random.Random(seed)
    cons, vows = "bcdfghjklmnprstvwxyz", "aeiouy"
    stems = set()
    while len(stems) < n_stems:
        length = rng.randint(1, 7)
        stems.add("".join(rng.choice(vows if rng.random() < 0.4 else cons) for _ in range(length)))
    words = {s + suf for s in sorted(stems) for suf in SUFFIXES if rng.random() < 0.35}
    words |= {s + s[-1] + suf for s in sorted(stems) for suf in ("ed", "ing") if rng.random() < 0.3}
    words |= {"y" * k for k in range(1, 8)} | {"ay" * k for k in range(1, 5)} | {"0" * 4, "2019s", "1990s"}
    return sorted(words)


def main() -> None:
    results = []
    vocabulary: set[str] = set()
    for spec in SETS:
        hyps, refs = build_set(spec["rule"])
        for s in hyps + [r for rs in refs for r in rs]:
            vocabulary.update(tokenize.tokenize(s, None))
        results.append({
            "id": spec["id"], "rule": spec["rule"], "n": len(hyps),
            "sha256": {"source": sha256_file(shared_dir() / spec["rule"]["source"])},
            "no_stemmer": rouge_set(hyps, refs, False),
            "stemmer": rouge_set(hyps, refs, True),
        })
        r = results[-1]
        print(f"{spec['id']}: n={len(hyps)} " + " ".join(
            f"{t}={r['no_stemmer'][t]['fmeasure']:.4f}/{r['stemmer'][t]['fmeasure']:.4f}" for t in TYPES), file=sys.stderr)
    meta = {"rouge_score": version("rouge-score"), "nltk": version("nltk")}
    write_json(REPO / "fixtures" / "metrics" / "rouge.json",
               {"generator": "tools/metrics_oracle_rouge.py", "oracles": meta, "sets": results})

    stemmer = porter.PorterStemmer()  # what rouge_score.tokenizers.DefaultTokenizer(True) builds
    assert stemmer.mode == porter.PorterStemmer.NLTK_EXTENSIONS
    words = sorted(set(PAPER_WORDS) | set(synthetic_words()))
    vocab = sorted(vocabulary)
    vocab_lines = "".join(f"{w}\t{stemmer.stem(w) if len(w) > 3 else w}\n" for w in vocab)
    write_json(REPO / "fixtures" / "metrics" / "porter.json", {
        "generator": "tools/metrics_oracle_rouge.py", "oracles": meta, "mode": stemmer.mode,
        "words": {w: stemmer.stem(w) for w in words},
        "vocabulary_digest": {
            "sets": [s["id"] for s in SETS],
            "what": "sha256 of the lines 'word<TAB>stem<LF>' over the sorted distinct rouge-score tokens "
                    "(no stemming) of all hypotheses and references of these sets; stem only if len > 3",
            "count": len(vocab), "sha256": sha256_bytes(vocab_lines.encode()),
        },
    })
    print(f"porter: {len(words)} words, vocabulary {len(vocab)}", file=sys.stderr)


if __name__ == "__main__":
    main()
