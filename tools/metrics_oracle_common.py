"""Shared helpers of the metric oracle scripts (tools/metrics_oracle_*.py).

The oracle scripts score REAL text that no one in this project wrote (held-out human references
of E2E, DialogSum and SAMSum from ../shared) with the OFFICIAL scorers, and write only the rules
that select hypotheses/references plus the expected numbers to fixtures/metrics/*.json. The
TypeScript tests rebuild the very same hypothesis/reference lists from ../shared at test time
by interpreting the same rules (packages/tasks/test/metrics/shared-sets.ts); the SHA-256 of the
source file and of the e2e-metrics plain-text files are recorded so that a drift in either the
data or the rule interpretation fails loudly instead of silently comparing different inputs.

A rule is a small JSON object:
  {"kind": "e2e-holdout", "source": "data/e2e/devset.csv", "hyp_index": 0,
   "start": 0, "stop": null, "step": 1, "max_refs": null}
      groups = consecutive rows of the CSV with the same MR (column `mr`), in file order;
      keep groups[start:stop:step]; hypothesis = group[hyp_index] (negative counts from the end);
      references = the group without that item, in order, truncated to max_refs if given.
  {"kind": "jsonl-fields", "source": "...jsonl", "hyp_field": "summary1",
   "ref_fields": ["summary2", "summary3"], "start": 0, "stop": null, "step": 1}
  {"kind": "lead", "source": "...jsonl", "lines": 3, "ref_fields": ["summary"], ...}
      hypothesis = the first `lines` non-blank lines of `dialogue` (after replacing CRLF by LF),
      each stripped of surrounding whitespace, joined with "\n".
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """The shared data folder: $PREFIX_TUNING_SHARED or <repo>/../shared."""
    env = os.environ.get("PREFIX_TUNING_SHARED")
    return Path(env) if env else REPO.parent / "shared"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    return sha256_bytes(path.read_bytes())


def _slice(items: list, rule: dict) -> list:
    return items[rule.get("start", 0) : rule.get("stop") : rule.get("step", 1)]


def e2e_groups(path: Path) -> list[list[str]]:
    """References of the E2E CSV grouped by consecutive identical MR."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    mr_col, ref_col = header.index("mr"), header.index("ref")
    groups: list[list[str]] = []
    current = None
    for row in body:
        if not groups or row[mr_col] != current:
            groups.append([])
            current = row[mr_col]
        groups[-1].append(row[ref_col])
    return groups


def read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def lead_lines(dialogue: str, n: int) -> str:
    lines = [ln.strip() for ln in dialogue.replace("\r\n", "\n").split("\n")]
    return "\n".join([ln for ln in lines if ln][:n])


def build_set(rule: dict) -> tuple[list[str], list[list[str]]]:
    """(hypotheses, references) selected by `rule` from the shared data."""
    src = shared_dir() / rule["source"]
    kind = rule["kind"]
    if kind == "e2e-holdout":
        hyps, refs = [], []
        for group in _slice(e2e_groups(src), rule):
            i = rule["hyp_index"] % len(group)
            rest = group[:i] + group[i + 1 :]
            if rule.get("max_refs"):
                rest = rest[: rule["max_refs"]]
            hyps.append(group[i])
            refs.append(rest)
        return hyps, refs
    rows = _slice(read_jsonl(src), rule)
    if kind == "jsonl-fields":
        return [r[rule["hyp_field"]] for r in rows], [[r[f] for f in rule["ref_fields"]] for r in rows]
    if kind == "lead":
        return ([lead_lines(r["dialogue"], rule["lines"]) for r in rows],
                [[r[f] for f in rule["ref_fields"]] for r in rows])
    raise ValueError(f"unknown rule kind {kind!r}")


def e2e_text_files(hyps: list[str], refs: list[list[str]]) -> tuple[str, str]:
    """The e2e-metrics plain-text inputs: (references text, hypotheses text).

    References: each example's references one per line, examples separated by one blank line.
    Hypotheses: one line per example. Every string must be a single line.
    """
    for s in hyps + [r for rs in refs for r in rs]:
        if "\n" in s or "\r" in s:
            raise ValueError(f"multi-line text cannot go into the e2e-metrics text format: {s!r}")
    ref_txt = "\n\n".join("\n".join(rs) for rs in refs) + "\n"
    hyp_txt = "\n".join(hyps) + "\n"
    return ref_txt, hyp_txt


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
