#!/usr/bin/env python3
"""Oracle for BLEU/NIST (E2E challenge scorer) and sacreBLEU BLEU/chrF/TER.

Writes fixtures/metrics/mteval_sacrebleu.json: for each selection rule (see
tools/metrics_oracle_common.py) the numbers that the OFFICIAL scorers give on real text:

* e2e-metrics (github.com/tuetschek/e2e-metrics, the E2E NLG challenge scorer): its own
  `measure_scores.load_data` reads the plain-text files (references separated by blank lines,
  one hypothesis per line), `measure_scores.run_mteval` runs `mteval/mteval-v13a-sig.pl` and
  gives the official BLEU/NIST (printed with 4 decimals). The same .sgm files (made by its
  `create_mteval_file`) are scored once more by the unmodified Perl script with `-d 2
  --metricsMATR-output`, which writes the system- and segment-level scores at full precision,
  and `-f` segment statistics whose corpus sums are recorded (n-gram matches, counts,
  information). `run_pymteval` (its Python port, which does NOT equal the Perl NIST) is recorded
  for information only.
Also writes fixtures/metrics/mteval_sacrebleu_cases.json: the same numbers for small cases written
here (CASES), each aimed at one rule (entities, case, Unicode whitespace, ties, empty hypothesis...).

* sacrebleu (PyPI): corpus_bleu (13a, exp smoothing), corpus_chrf (chrF2 and chrF++), corpus_ter
  (defaults), and the sentence_* scores of the first SENTENCES segments.

Requirements (outside the repository):
  python3 -m venv /work/venvs/metrics
  /work/venvs/metrics/bin/pip install sacrebleu rouge-score nltk future matplotlib scikit-image
  perl with XML::Twig (Debian: apt-get install libxml-twig-perl)
  a copy of the e2e-metrics working tree (default /work/e2e-metrics; --e2e-metrics PATH)

Run:  /work/venvs/metrics/bin/python tools/metrics_oracle_bleu.py [--e2e-metrics PATH] [--what all|sets|cases]
(the sets take 10-20 minutes, mostly sacreBLEU's TER on 547 segments with up to 42 references)
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metrics_oracle_common import (REPO, build_set, e2e_text_files, sha256_bytes,  # noqa: E402
                                   sha256_file, shared_dir, write_json)

E2E_DEV = "data/e2e/devset.csv"
DIALOGSUM_TEST = "data/summarization/dialogsum/dialogsum.test.jsonl"

SETS = [
    {"id": "e2e-dev-holdout-first", "rule": {"kind": "e2e-holdout", "source": E2E_DEV, "hyp_index": 0}},
    {"id": "e2e-dev-holdout-last", "rule": {"kind": "e2e-holdout", "source": E2E_DEV, "hyp_index": -1}},
    {"id": "e2e-dev-first100-holdout-first",
     "rule": {"kind": "e2e-holdout", "source": E2E_DEV, "hyp_index": 0, "stop": 100}},
    {"id": "e2e-dev-odd-holdout-second",
     "rule": {"kind": "e2e-holdout", "source": E2E_DEV, "hyp_index": 1, "start": 1, "step": 2}},
    {"id": "e2e-dev-single-ref",
     "rule": {"kind": "e2e-holdout", "source": E2E_DEV, "hyp_index": 0, "max_refs": 1}},
    {"id": "dialogsum-test-s1-vs-s23",
     "rule": {"kind": "jsonl-fields", "source": DIALOGSUM_TEST, "hyp_field": "summary1",
              "ref_fields": ["summary2", "summary3"]}},
]


def load_e2e_metrics(path: Path):
    sys.path.insert(0, str(path))
    with contextlib.redirect_stderr(io.StringIO()):
        import measure_scores  # noqa: PLC0415  (the official e2e-metrics entry point)
    return measure_scores


def perl_full_precision(ms, e2e_path: Path, data_src, data_ref, data_sys) -> dict:
    """Run the unmodified mteval-v13a-sig.pl on e2e-metrics' own .sgm files, full precision."""
    with tempfile.TemporaryDirectory(prefix="mteval-oracle-") as tmp:
        t = Path(tmp)
        ms.create_mteval_file(data_ref, str(t / "ref.sgm"), "ref")
        ms.create_mteval_file(data_sys, str(t / "sys.sgm"), "tst")
        ms.create_mteval_file(data_src, str(t / "src.sgm"), "src")
        out = subprocess.run(
            ["perl", str(e2e_path / "mteval" / "mteval-v13a-sig.pl"), "-r", "ref.sgm", "-s", "src.sgm",
             "-t", "sys.sgm", "-f", "stats.txt", "-d", "2", "--metricsMATR-output"],
            cwd=t, check=True, capture_output=True, text=True).stdout

        def scr(name: str, col: int) -> list[float]:
            return [float(line.split("\t")[col]) for line in (t / name).read_text().splitlines()]

        nist_sys, bleu_sys = scr("NIST-sys.scr", 2)[0], scr("BLEU-sys.scr", 2)[0]
        nist_seg, bleu_seg = scr("NIST-seg.scr", 4), scr("BLEU-seg.scr", 4)
        printed = re.search(r"NIST score = ([0-9.]+)\s+BLEU score = ([0-9.]+)", out)
        assert printed and abs(float(printed.group(1)) - nist_sys) < 6e-5 and abs(float(printed.group(2)) - bleu_sys) < 6e-5
        # Segment statistics: the Perl appends them once per metric run (NIST, then BLEU).
        rows = [line.split("|") for line in (t / "stats.txt").read_text().splitlines()]
        rows = rows[: len(rows) // 2]
        assert len(rows) == len(data_sys)
        totals = {"ref_length": 0, "match": [0] * 9, "tst": [0] * 9, "ref": [0] * 9, "tst_info": [0.0] * 9}
        first_segments = []
        for k, r in enumerate(rows):
            ref_length = int(r[1])
            match, tst, ref = ([int(x) for x in r[i].split()] for i in (2, 3, 4))
            info = [float(x) for x in r[5].split()]
            totals["ref_length"] += ref_length
            for j in range(9):
                totals["match"][j] += match[j]
                totals["tst"][j] += tst[j]
                totals["ref"][j] += ref[j]
                totals["tst_info"][j] += info[j]
            if k < 25:
                first_segments.append({"ref_length": ref_length, "match": match, "tst": tst, "ref": ref, "tst_info": info})
    return {"bleu": bleu_sys, "nist": nist_sys, "bleu_seg": bleu_seg, "nist_seg": nist_seg,
            "totals": totals, "first_segments": first_segments}


SENTENCES = 150  # sentence-level scores are recorded for the first SENTENCES segments of a set


def sacrebleu_scores(hyps: list[str], refs: list[list[str]]) -> dict:
    import sacrebleu  # noqa: PLC0415
    from sacrebleu.metrics import CHRF, TER  # noqa: PLC0415

    n_max = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(n_max)]
    bleu = sacrebleu.corpus_bleu(hyps, streams)
    first = list(zip(hyps, refs))[:SENTENCES]
    return {
        "version": sacrebleu.__version__,
        "bleu": bleu.score, "bleu_sys_len": bleu.sys_len, "bleu_ref_len": bleu.ref_len,
        "bleu_counts": list(bleu.counts), "bleu_totals": list(bleu.totals),
        "chrf": CHRF().corpus_score(hyps, streams).score,
        "chrf++": CHRF(word_order=2).corpus_score(hyps, streams).score,
        "ter": TER().corpus_score(hyps, streams).score,
        "bleu_sent": [sacrebleu.sentence_bleu(h, r).score for h, r in first],
        "chrf_sent": [sacrebleu.sentence_chrf(h, r).score for h, r in first],
        "ter_sent": [sacrebleu.sentence_ter(h, r).score for h, r in first],
    }


# Small cases written for this oracle (not data): each exercises one rule of the scorers.
CASES = [
    {"id": "zero-prefix-quirk", "hyps": ["0 x"], "refs": [["0 x 0 y"]]},
    {"id": "entities-case-unicode",
     "hyps": ["CAF\u00c9 &amp; Bar costs \u00a320.50, near the 3-star Hotel."],
     "refs": [["Caf\u00e9 & bar costs \u00a320.50 , near the 3-star hotel.", "The CAF\u00c9 and BAR is near a hotel"]]},
    {"id": "unicode-whitespace", "hyps": ["a\u00a0b\u2003c d"], "refs": [["a b c d"]]},
    {"id": "closest-length-tie", "hyps": ["the cat sat down"], "refs": [["the cat sat", "the cat sat down now"]]},
    {"id": "empty-hypothesis", "hyps": ["", "the cat sat"], "refs": [["a b"], ["the cat sat on the mat"]]},
    {"id": "varying-reference-counts",
     "hyps": ["the cat sat on the mat", "a dog barked loudly", "it rains"],
     "refs": [["the cat sat on a mat"], ["the dog barked", "a dog barks loudly", "dogs bark"], ["it is raining", "rain"]]},
    {"id": "no-higher-order-matches", "hyps": ["mat the on sat cat the"], "refs": [["the cat sat on the mat"]]},
    {"id": "numbers-punctuation",
     "hyps": ["It's 1,000.5 km-long (approx.) -- yes! See e.g. 3-4 items/day; cost: $5."],
     "refs": [["It is 1,000.5 km long (approx.), yes. See 3 - 4 items per day; cost $5."]]},
    {"id": "short-hypothesis", "hyps": ["cat"], "refs": [["the cat"]]},
    {"id": "shift-needed", "hyps": ["on the mat the cat sat"], "refs": [["the cat sat on the mat"]]},
]


def score_corpus(ms, e2e_path: Path, hyps: list[str], refs: list[list[str]]) -> tuple[dict, str, str]:
    """Official numbers of one corpus; also returns the e2e-metrics text files."""
    ref_txt, hyp_txt = e2e_text_files(hyps, refs)
    with tempfile.TemporaryDirectory(prefix="e2e-oracle-") as tmp:
        ref_file, hyp_file = Path(tmp) / "refs.txt", Path(tmp) / "hyp.txt"
        ref_file.write_text(ref_txt, encoding="utf-8")
        hyp_file.write_text(hyp_txt, encoding="utf-8")
        if len(hyps) > 1:
            data_src, data_ref, data_sys = ms.load_data(str(ref_file), str(hyp_file))
        else:  # a one-example file with several references reads as single-reference in e2e-metrics
            data_src, data_ref, data_sys = [""], [[r.strip() for r in refs[0]]], [hyps[0].strip()]
    with contextlib.redirect_stderr(io.StringIO()):
        official = ms.run_mteval(data_ref, data_sys, data_src)
        try:
            py = ms.run_pymteval(data_ref, data_sys)
        except ZeroDivisionError:  # the Python port fails on hypotheses shorter than 5 words
            py = {"BLEU": None, "NIST": None}
    full = perl_full_precision(ms, e2e_path, data_src, data_ref, data_sys)
    assert abs(full["bleu"] - official["BLEU"]) < 6e-5 and abs(full["nist"] - official["NIST"]) < 6e-5
    # the e2e-metrics reader strips lines; sacreBLEU gets the same strings
    return ({"e2e_metrics": {"BLEU": official["BLEU"], "NIST": official["NIST"]}, "mteval": full,
             "pymteval": {"BLEU": py["BLEU"], "NIST": py["NIST"]}, "sacrebleu": sacrebleu_scores(data_sys, data_ref)},
            ref_txt, hyp_txt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--e2e-metrics", type=Path, default=Path("/work/e2e-metrics"))
    ap.add_argument("--what", choices=["all", "sets", "cases"], default="all")
    args = ap.parse_args()
    ms = load_e2e_metrics(args.e2e_metrics)
    perl_version = subprocess.run(["perl", "-e", "print $^V"], capture_output=True, text=True).stdout
    import sacrebleu  # noqa: PLC0415
    commit = os.environ.get("E2E_METRICS_COMMIT", "1b9c4d87fd0bbb171ea966741cdc012588581ed4")
    oracles = {"e2e_metrics_commit": commit, "perl": perl_version, "sacrebleu": sacrebleu.__version__}
    out_dir = REPO / "fixtures" / "metrics"
    if args.what in ("all", "cases"):
        cases = []
        for case in CASES:
            scores, _, _ = score_corpus(ms, args.e2e_metrics, case["hyps"], case["refs"])
            cases.append({**case, **scores})
            print(f"case {case['id']}: BLEU={scores['mteval']['bleu']} NIST={scores['mteval']['nist']}", file=sys.stderr, flush=True)
        write_json(out_dir / "mteval_sacrebleu_cases.json",
                   {"generator": "tools/metrics_oracle_bleu.py --what cases", "oracles": oracles, "cases": cases})
    if args.what in ("all", "sets"):
        results = []
        for spec in SETS:
            hyps, refs = build_set(spec["rule"])
            assert all(s.strip() for s in hyps + [r for rs in refs for r in rs]), "blank text in a set"
            scores, ref_txt, hyp_txt = score_corpus(ms, args.e2e_metrics, hyps, refs)
            results.append({
                "id": spec["id"], "rule": spec["rule"], "n": len(hyps),
                "sha256": {"source": sha256_file(shared_dir() / spec["rule"]["source"]),
                           "refs_txt": sha256_bytes(ref_txt.encode()), "hyp_txt": sha256_bytes(hyp_txt.encode())},
                **scores,
            })
            sb = scores["sacrebleu"]
            print(f"{spec['id']}: n={len(hyps)} BLEU={scores['e2e_metrics']['BLEU']} NIST={scores['e2e_metrics']['NIST']} "
                  f"sacreBLEU={sb['bleu']:.4f} chrF={sb['chrf']:.4f} TER={sb['ter']:.4f}", file=sys.stderr, flush=True)
        write_json(out_dir / "mteval_sacrebleu.json",
                   {"generator": "tools/metrics_oracle_bleu.py --what sets", "oracles": oracles, "sets": results})


if __name__ == "__main__":
    main()
