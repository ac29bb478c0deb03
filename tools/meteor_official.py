#!/usr/bin/env python3
"""The official METEOR 1.5 of one system output, as E2E's measure_scores.py computes it.

pycocoevalcap (PyPI; ships meteor-1.5.jar and data/paraphrase-en.gz; needs `java`): the PTB
tokenizer on references and hypotheses, then Meteor().compute_score. Used to check that
`prefix-tune score --metrics meteor` with the data `prefix-tune fetch-meteor` installs gives the
same digits (README, *Tasks and metrics*).

    /work/venvs/coco/bin/python tools/meteor_official.py REFS HYP
REFS: each input's references on consecutive lines, inputs separated by a blank line (as
`prefix-tune eval` writes references.txt); HYP: one output per line.
"""
import sys

from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer


def main(refs_txt: str, hyp_txt: str) -> None:
    blocks = [b.strip().split('\n') for b in open(refs_txt, encoding='utf-8').read().strip().split('\n\n')]
    hyps = open(hyp_txt, encoding='utf-8').read().rstrip('\n').split('\n')
    if len(blocks) != len(hyps):
        sys.exit(f'{refs_txt}: {len(blocks)} inputs, but {hyp_txt} has {len(hyps)} lines')
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{'caption': r} for r in b] for i, b in enumerate(blocks)})
    res = tok.tokenize({i: [{'caption': h}] for i, h in enumerate(hyps)})
    score, _ = Meteor().compute_score(gts, res)
    print(repr(score))


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
