"""Issue 14's throwaway: score ensembles of mixed members from the held-out digit
log-probabilities that explore.py saved (the save option), fit by fit, and
compare each with 8 fast members, paired by fit (95% t interval). The kinds
of member: fast (course_bn, 35 epochs), bn24 (best's tower), bn32 (a wider
one, 100 epochs); the ensembles of the kinds that were saved are scored.

Run from the repository root after r15 and r20 (output: r15_combine.txt), and
after r21 (output: r21_combine.txt):
    PYTHONPATH=. python results/records_dev/explore/combine.py results/records_dev/members 400,401
    PYTHONPATH=. python results/records_dev/explore/combine.py results/records_dev/members 430,431,432,433 seeds430_

Its intervals are plain Student t over the fits, which treat the 5 folds of a
seed as independent and so are too narrow; rescale.py turns its outputs into
the corrected resampled t intervals (the *_corrected.txt files).
"""
import math, os, statistics, sys
import torch
from scipy import stats
from models import ProbabilityComparison

folder, seeds = sys.argv[1], [int(s) for s in sys.argv[2].split(',')]
prefix = sys.argv[3] if len(sys.argv) > 3 else ''
fits = [(s, k) for s in seeds for k in range(5)]
saved = {kind: [torch.load(f'{folder}/{prefix}{kind}_{s}_{k}.pt') for s, k in fits]
         for kind in ('fast', 'bn24', 'bn32') if os.path.exists(f'{folder}/{prefix}{kind}_{seeds[0]}_0.pt')}
seconds = {kind: statistics.median(f['train_s'] / len(f['logp']) for f in v) * 1.25
           for kind, v in saved.items()}  # per member and 1000-pair round (fits train on 800)
head = ProbabilityComparison()

def errors(counts):
    """Pair and digit error (%) per fit of the ensemble with counts[kind] members of each kind."""
    pair, digit = [], []
    for i in range(len(fits)):
        logp = [lp for kind, n in counts.items() for lp in saved[kind][i]['logp'][:n]]
        mean = torch.stack(logp).exp().mean(0).log()
        f = saved['fast'][i]
        pair.append(100.0 * float((head(mean).argmax(1) != f['target']).float().mean()))
        digit.append(100.0 * float((mean.argmax(2) != f['classes']).float().mean()))
    return pair, digit

def interval(d):
    m, h = sum(d) / len(d), stats.t.ppf(0.975, len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d))
    return f'{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}]'

ENSEMBLES = [dict(fast=1), dict(fast=4), dict(fast=8), dict(bn24=1), dict(bn24=2), dict(bn24=4),
             dict(bn24=1, fast=4), dict(bn24=2, fast=4), dict(bn24=2, fast=8), dict(bn24=4, fast=4),
             dict(bn24=4, fast=8), dict(bn32=1), dict(bn32=1, fast=4), dict(bn32=1, fast=8),
             dict(bn32=1, bn24=4), dict(bn32=1, bn24=4, fast=8)]
reference = dict(fast=8)
ref = errors(reference)
print(f'{len(fits)} fits (seeds {seeds}, 5 folds); against {reference}, paired by fit')
print(f"{'members':24s} {'pair %':>6s} {'digit %':>7s} {'s/round':>7s}  {'pair diff':>22s}  {'digit diff':>22s}")
for counts in [c for c in ENSEMBLES if set(c) <= set(saved)]:
    pair, digit = errors(counts)
    s = sum(seconds[kind] * n for kind, n in counts.items())
    name = ' + '.join(f'{n} {kind}' for kind, n in counts.items())
    print(f'{name:24s} {sum(pair) / len(pair):6.2f} {sum(digit) / len(digit):7.2f} {s:7.0f}  '
          f'{interval([a - b for a, b in zip(pair, ref[0])]):>22s}  {interval([a - b for a, b in zip(digit, ref[1])]):>22s}')
