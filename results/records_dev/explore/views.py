"""Issue 14's throwaway: test-time averaging over more views than ShiftAveraged's
five (diagonal shifts, rotations, scalings), scored from the per-view
log-probabilities that explore.py saved (save_views, r18), for 1, 4 and 8
members, paired by fit with the same members averaged over the five shifts.

Run from the repository root after r18 (its output: r18_views.txt):
    PYTHONPATH=. python results/records_dev/explore/views.py results/records_dev/members/views 400,401
and after r19 (one member per fit, output r19_views.txt):
    PYTHONPATH=. python results/records_dev/explore/views.py results/records_dev/members/views1 430,431,432,433 1

Its intervals are plain Student t over the fits, which treat the 5 folds of a
seed as independent and so are too narrow; rescale.py turns its outputs into
the corrected resampled t intervals (the *_corrected.txt files).
"""
import math, statistics, sys
import torch
from scipy import stats
from models import ProbabilityComparison

prefix, seeds = sys.argv[1], [int(s) for s in sys.argv[2].split(',')]
fits = [torch.load(f'{prefix}_{s}_{k}.pt') for s in seeds for k in range(5)]  # 5 folds
head = ProbabilityComparison()
SETS = {'identity': [0], '5 shifts (ShiftAveraged)': [0, 1, 2, 3, 4], '9 shifts': list(range(9)),
        '5 shifts + rotations 6': [0, 1, 2, 3, 4, 9, 10], '5 shifts + rotations 6, 12': [0, 1, 2, 3, 4, 9, 10, 11, 12],
        '5 shifts + scalings': [0, 1, 2, 3, 4, 13, 14], 'all 15 views': list(range(15))}

def errors(members, views):
    pair, digit = [], []
    for f in fits:
        p = torch.stack([f['views'][m][v] for m in range(members) for v in views]).exp().mean(0)
        pair.append(100.0 * float((head(p.log()).argmax(1) != f['target']).float().mean()))
        digit.append(100.0 * float((p.argmax(2) != f['classes']).float().mean()))
    return pair, digit

def interval(d):
    m, h = sum(d) / len(d), stats.t.ppf(0.975, len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d))
    return f'{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}]'

print(f'{len(fits)} fits (seeds {seeds}, 5 folds); differences against the same members over 5 shifts')
for members in [int(m) for m in (sys.argv[3] if len(sys.argv) > 3 else '1,4,8').split(',')]:
    ref = errors(members, SETS['5 shifts (ShiftAveraged)'])
    for name, views in SETS.items():
        pair, digit = errors(members, views)
        print(f'{members} member(s), {name:28s} pair {sum(pair) / len(pair):5.2f}  digit {sum(digit) / len(digit):5.2f}  '
              f'pair {interval([a - b for a, b in zip(pair, ref[0])])}  digit {interval([a - b for a, b in zip(digit, ref[1])])}')
