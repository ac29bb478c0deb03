#!/usr/bin/env python3
"""Oracle fixtures for the pycocoevalcap scorers (METEOR 1.5, ROUGE-L, CIDEr, PTB tokenizer).

Runs the OFFICIAL scorers from the PyPI package `pycocoevalcap` (which ships meteor-1.5.jar,
data/paraphrase-en.gz and stanford-corenlp-3.4.1.jar; needs `java`) the way E2E's
`measure_scores.py` runs them (`COCOEvalCap.evaluate`: PTBTokenizer on references and on
hypotheses, then each scorer), and writes small JSON fixtures with the numbers only. No dataset
text is written: the tests rebuild hypotheses and references from ../shared with the selection
rules recorded below.

Setup (outside the repo):
    python3 -m venv /work/venvs/coco && /work/venvs/coco/bin/pip install pycocoevalcap
Run from the repo root:
    /work/venvs/coco/bin/python tools/metrics_oracle_coco.py [--shared ../shared]

Writes fixtures/metrics/coco-e2e-dev.json, coco-ptb-cases.json, coco-ptb-e2e-dev.json,
meteor-cases.json and meteor-stems.json.
"""
import argparse
import collections
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading


from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor import meteor as meteor_mod
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer import ptbtokenizer as ptb_mod
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer


METEOR_DIR = os.path.dirname(os.path.abspath(meteor_mod.__file__))
PTB_DIR = os.path.dirname(os.path.abspath(ptb_mod.__file__))

# Module subsets run with the jar's -m option (weights stay the positional 'rank' weights).
METEOR_MODULES = ['exact', 'exact stem', 'exact stem synonym', 'exact stem synonym paraphrase']


class Meteor:
    """pycocoevalcap.meteor.Meteor with an optional -m module list (same stdio protocol)."""

    def __init__(self, modules=None):
        cmd = ['java', '-jar', '-Xmx2G', meteor_mod.METEOR_JAR, '-', '-', '-stdio', '-l', 'en', '-norm']
        if modules is not None:
            cmd += ['-m', modules]
        self.p = subprocess.Popen(cmd, cwd=METEOR_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()

    def _line(self, s):
        self.p.stdin.write((s + '\n').encode())
        self.p.stdin.flush()

    def _read(self):
        return self.p.stdout.readline().decode().strip()

    def stats(self, hyp, refs):
        """The SCORE line exactly as pycocoevalcap's Meteor._stat sends it."""
        hyp = hyp.replace('|||', '').replace('  ', ' ')
        self._line(' ||| '.join(('SCORE', ' ||| '.join(refs), hyp)))
        return self._read()

    def compute_score(self, gts, res):
        """Same as pycocoevalcap's Meteor.compute_score; also returns the stats lines."""
        keys = list(gts.keys())
        stats = [self.stats(res[k][0], gts[k]) for k in keys]
        self._line('EVAL ||| ' + ' ||| '.join(stats))
        seg = [float(self._read()) for _ in keys]
        return float(self._read()), seg, stats

    def close(self):
        self.p.stdin.close()
        self.p.kill()
        self.p.wait()


def tokenize_checked(captions):
    """PTBTokenizer.tokenize; retried while CoreNLP leaves a token upper-case (seen rarely on the
    first token of a run: a CoreNLP flake that would make the fixture irreproducible)."""
    for _ in range(5):
        out = PTBTokenizer().tokenize(captions)
        if all(c == c.lower() for caps in out.values() for c in caps):
            return out
        print('PTBTokenizer left upper case in its output; retrying', file=sys.stderr)
    raise RuntimeError('PTBTokenizer keeps returning upper-case tokens')


def load_dev(shared):
    """E2E dev set grouped by MR, groups in order of first appearance, references in file order."""
    groups = collections.OrderedDict()
    with open(os.path.join(shared, 'data', 'e2e', 'devset.csv'), newline='', encoding='utf-8') as f:
        for row in csv.DictReader(f):
            groups.setdefault(row['mr'], []).append(row['ref'])
    return groups


def parse_mr(mr):
    """'name[X], eatType[pub]' -> {'name': 'X', 'eatType': 'pub'}."""
    out = {}
    for part in mr.split(', '):
        k = part.index('[')
        out[part[:k]] = part[k + 1:-1]
    return out


def template(mr):
    """The template baseline; packages/tasks/test/metrics/coco-e2e.ts has the same function."""
    f = parse_mr(mr)
    s = f['name'] + ' is a ' + f.get('eatType', 'restaurant')
    if 'food' in f:
        s += ' serving ' + f['food'] + ' food'
    if 'area' in f:
        s += ' in the ' + f['area']
    if 'near' in f:
        s += ' near ' + f['near']
    s += '.'
    if 'priceRange' in f:
        s += ' It has a price range of ' + f['priceRange'] + '.'
    if 'customer rating' in f:
        s += ' Its customer rating is ' + f['customer rating'] + '.'
    if 'familyFriendly' in f:
        s += ' It is family friendly.' if f['familyFriendly'] == 'yes' else ' It is not family friendly.'
    return s


SETS = collections.OrderedDict([
    ('heldout-first', 'for each MR of devset.csv (groups in order of first appearance, references in '
                      'file order): hypothesis = its first reference, references = the others'),
    ('heldout-last', 'for each MR: hypothesis = its last reference, references = the others'),
    ('template', 'for each MR: hypothesis = template(MR) (see the test), references = all its references'),
])


def build_set(name, groups):
    refs, hyps = [], []
    for mr, rs in groups.items():
        if name == 'heldout-first':
            hyps.append(rs[0]); refs.append(rs[1:])
        elif name == 'heldout-last':
            hyps.append(rs[-1]); refs.append(rs[:-1])
        else:
            hyps.append(template(mr)); refs.append(list(rs))
    return refs, hyps


def r6(xs):
    return [round(x, 6) for x in xs]


def score_set(refs, hyps, meteors):
    gts = collections.OrderedDict(('inst-%d' % i, [{'caption': r} for r in rs]) for i, rs in enumerate(refs))
    res = collections.OrderedDict(('inst-%d' % i, [{'caption': h}]) for i, h in enumerate(hyps))
    gts = tokenize_checked(gts)
    res = tokenize_checked(res)
    out = collections.OrderedDict()
    rouge, rouge_seg = Rouge().compute_score(gts, res)
    cider, cider_seg = Cider().compute_score(gts, res)
    out['ROUGE_L'] = float(rouge)
    out['CIDEr'] = float(cider)
    by_modules = collections.OrderedDict()
    seg = collections.OrderedDict([('ROUGE_L', r6(rouge_seg)), ('CIDEr', r6(cider_seg))])
    for modules, m in meteors.items():
        score, mseg, _ = m.compute_score(gts, res)
        by_modules[modules] = score
        if modules == METEOR_MODULES[-1]:
            out['METEOR'] = score
            seg['METEOR'] = r6(mseg)
    out['METEOR_by_modules'] = by_modules
    out['segment_scores'] = seg
    return out


def ptb_one(text):
    """CoreNLP PTBTokenizer -preserveLines -lowerCase on one caption + pycocoevalcap's filter."""
    return tokenize_checked({0: [{'caption': text}]})[0][0]


# Hand-written tokenizer cases (our own sentences).
PTB_CASES = [
    'There is a place in the city centre, Alimentum, that is not family-friendly.',
    "The colour of the theatre is grey; it costs £20-25 and it's \"cheap\" (really).",
    "don't can't cannot won't ain't I'm you're we've they'll he'd y'all O'Neill DON'T",
    'I paid $5.00... or 3/4 of it -- yes - no?! U.S. St. Mr. Smith\'s',
    'a [b] {c} <d> x * y ** z a --- b ---- c ----- d',
    "'hello' \"world\" `x' \u2018y\u2019 \u201cz\u201d and rock 'n' roll in the '90s",
    'email me@x.com or see www.x.com and http://x.org/a?b=c',
    'caf\u00e9 na\u00efve r\u00e9sum\u00e9 A&B AT&T S&P 500 it is 5% off & more ~ ^ = |',
    '50\u00a2 \u20ac20 \u00a530 $40 US$50 \u00bd \u00bc \u00be 1,000 3:30 1.5.6 -5 +5',
    'hello... world. . . done etc. and Inc. is Calif. now',
    'the price is 20-25 L. There is more',
    'the U.S. The end',
    'a no. 5 and no. more',
    'ice-cream-like semi_colon self-service 20-year-old and/or 5/10 20/20/2020',
    '   spaces\tand\ttabs   ',
    '',
    '!!! ??? ... ---',
    'Shi\'ite c\'mon o\'clock nor\'easter li\'l \'em \'til',
]

# Hand-written METEOR cases: (hypothesis, references). Our own sentences.
METEOR_CASES = [
    ('the cat sat on the mat', ['the cat sat on the mat']),
    ('the cat sat on the mat', ['on the mat sat the cat']),
    ('the cats are sitting on the mats', ['the cat sat on the mat']),
    ('a big dog runs quickly', ['the large dog is running fast', 'a big dog runs']),
    ('the restaurant serves cheap food', ['the eatery offers inexpensive meals']),
    ('it is located in the city centre', ['it is situated in the centre of the city']),
    ('the children played in the garden', ['the kids were playing in the yard']),
    ('there is a family friendly pub near the river', ['near the riverside there is a pub for families']),
    ('', ['something here']),
    ('word', ['']),
    ('the the the the', ['the cat']),
    ('Alimentum is not family-friendly.', ['Alimentum, in the city centre, is not family-friendly.']),
    ('it costs more than £30', ['the price range is more than £30', 'it is expensive']),
    ('He said: "No, it\'s U.S.-based!"', ['he said no it is us based']),
    ('running runner ran runs', ['run runs running']),
]

# Words for the Snowball stemmer check (our own list, chosen to hit each step of the algorithm).
STEM_WORDS = (
    'caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated troubled '
    'sized hopping tanned falling hissing fizzed failing filing happy sky relational conditional '
    'rational valenci hesitanci digitizer conformabli radicalli differentli vileli analogousli '
    'vietnamization predication operator feudalism decisiveness hopefulness callousness formaliti '
    'sensitiviti sensibiliti triplicate formative formalize electriciti electrical hopeful goodness '
    'revival allowance inference airliner gyroscopic adjustable defensible irritant replacement '
    'adjustment dependent adoption homologou communism activate angulariti homologous effective '
    'bowdlerize probate rate cease controll roll generate generously general generic commune '
    'communicate arsenal arsenic skis skies dying lying tying idly gently ugly early only singly '
    'news howe atlas cosmos bias andes inning outing canning herring earring proceed exceed succeed '
    "consign consigned consigning consignment consist consisted consistency consistent yes yellow "
    "youth crying apologise apology families friendly restaurants located riverside customers rated "
    "ratings serving serves priced pricing expensive cheaply children's kids' o'clock"
).split()


def java_stems(words):
    """Stems from the Snowball English stemmer class inside meteor-1.5.jar."""
    src = (
        'import org.tartarus.snowball.ext.englishStemmer;\n'
        'public class StemWords { public static void main(String[] a) throws Exception {\n'
        ' java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(System.in, "UTF-8"));\n'
        ' java.io.PrintStream out = new java.io.PrintStream(System.out, true, "UTF-8");\n'
        ' englishStemmer s = new englishStemmer(); String w;\n'
        ' while ((w = in.readLine()) != null) { s.setCurrent(w); s.stem(); out.println(s.getCurrent()); } } }\n')
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, 'StemWords.java')
        with open(path, 'w') as f:
            f.write(src)
        out = subprocess.run(['java', '-cp', os.path.join(METEOR_DIR, meteor_mod.METEOR_JAR), path],
                             input='\n'.join(words) + '\n', capture_output=True, text=True, check=True).stdout
    stems = out.split('\n')[:len(words)]
    assert len(stems) == len(words)
    return stems


def digest(lines):
    return hashlib.sha256('\n'.join(lines).encode('utf-8')).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--shared', default=os.environ.get('PREFIX_TUNING_SHARED', os.path.join('..', 'shared')))
    ap.add_argument('--out', default=os.path.join('fixtures', 'metrics'))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    version = 'pycocoevalcap ' + subprocess.run([sys.executable, '-m', 'pip', 'show', 'pycocoevalcap'],
                                                capture_output=True, text=True).stdout.split('Version: ')[1].split()[0]
    java = subprocess.run(['java', '-version'], capture_output=True, text=True).stderr.split('\n')[0]
    provenance = {'generator': 'tools/metrics_oracle_coco.py', 'scorer': version + ' (meteor-1.5.jar, '
                  'stanford-corenlp-3.4.1.jar)', 'java': java}

    groups = load_dev(args.shared)

    # --- PTB tokenizer: all dev references in file order, one call (as the gts of one corpus) ---
    all_refs = [r for rs in groups.values() for r in rs]
    tok = tokenize_checked({0: [{'caption': r} for r in all_refs]})[0]
    with open(os.path.join(args.out, 'coco-ptb-e2e-dev.json'), 'w') as f:
        json.dump(dict(provenance, data='e2e/devset.csv', rule='all references of devset.csv grouped by MR '
                       '(groups in order of first appearance, references in file order), tokenized in one call; '
                       'sha256_12 = first 12 hex digits of sha256 of each tokenized caption (UTF-8)',
                       count=len(tok), sha256_12=[hashlib.sha256(t.encode('utf-8')).hexdigest()[:12] for t in tok]),
                  f, indent=0)
    print('ptb dev:', len(tok), file=sys.stderr)

    with open(os.path.join(args.out, 'coco-ptb-cases.json'), 'w') as f:
        json.dump(dict(provenance, cases=[{'input': c, 'output': ptb_one(c)} for c in PTB_CASES]),
                  f, indent=1, ensure_ascii=False)

    # --- METEOR on hand-written cases, every module subset, untokenized and after PTB ---
    meteors = collections.OrderedDict((m, Meteor(m)) for m in METEOR_MODULES)
    cases = []
    for hyp, refs in METEOR_CASES:
        case = {'hyp': hyp, 'refs': refs, 'stats': {}, 'score': {}}
        for mods, m in meteors.items():
            st = m.stats(hyp, refs)
            m._line('EVAL ||| ' + st)
            case['stats'][mods] = st
            case['score'][mods] = float(m._read())
            m._read()  # the aggregate line repeats the segment score
        cases.append(case)
    corpus = {}
    for mods, m in meteors.items():
        gts = collections.OrderedDict((i, c[1]) for i, c in enumerate(METEOR_CASES))
        res = collections.OrderedDict((i, [c[0]]) for i, c in enumerate(METEOR_CASES))
        corpus[mods] = m.compute_score(gts, res)[0]
    with open(os.path.join(args.out, 'meteor-cases.json'), 'w') as f:
        json.dump(dict(provenance, options='-l en -norm -stdio [-m MODULES]', cases=cases,
                       corpus_untokenized=corpus), f, indent=1, ensure_ascii=False)

    # --- E2E dev sets ---
    sets = collections.OrderedDict()
    for name, rule in SETS.items():
        refs, hyps = build_set(name, groups)
        s = collections.OrderedDict(rule=rule, segments=len(hyps))
        s.update(score_set(refs, hyps, meteors))
        sets[name] = s
        print(name, {k: v for k, v in s.items() if k not in ('segment_scores', 'rule')}, file=sys.stderr)
    for m in meteors.values():
        m.close()
    with open(os.path.join(args.out, 'coco-e2e-dev.json'), 'w') as f:
        json.dump(dict(provenance, data='e2e/devset.csv', pipeline='COCOEvalCap.evaluate as in E2E '
                       'measure_scores.py: PTBTokenizer on references and on hypotheses, then Meteor(), '
                       'Rouge(), Cider(); METEOR_by_modules adds -m MODULES to the jar call', sets=sets),
                  f, indent=1)

    # --- Snowball stemmer of the METEOR jar ---
    vocab = sorted({w for caps in tok for w in caps.split()})
    stems = java_stems(STEM_WORDS + vocab)
    with open(os.path.join(args.out, 'meteor-stems.json'), 'w') as f:
        json.dump(dict(provenance, stemmer='org.tartarus.snowball.ext.englishStemmer in meteor-1.5.jar',
                       words=dict(zip(STEM_WORDS, stems[:len(STEM_WORDS)])),
                       e2e_dev_vocabulary=dict(rule='sorted distinct whitespace tokens of coco-ptb-e2e-dev '
                                               '(the tokenized dev references); digest = sha256 of the lines '
                                               '"word<TAB>stem" joined by newlines', count=len(vocab),
                                               digest=digest([w + '\t' + s for w, s in zip(vocab, stems[len(STEM_WORDS):])]))),
                  f, indent=1, ensure_ascii=False)


if __name__ == '__main__':
    main()
