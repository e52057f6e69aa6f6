"""Issue 14's throwaway: paired differences between the recipes of explore.py's
.out files, fit by fit, with the 95% interval of the corrected resampled t
(the fits are 5 folds of each seed, which share training pairs: the mean of n
differences has variance (1/n + 1/4) s^2, n - 1 degrees of freedom; Nadeau
and Bengio 2003), as effects.py gives for fold runs.

    python results/records_dev/explore/paired.py OUT [BASE_INDEX] [BASE_OUT]

compares every row of OUT with row BASE_INDEX (default 0) of BASE_OUT (default
OUT), over the fits they share (the first ones, when the base ran on more
seeds); a row with a distilled student is also compared with its teachers.
"""
import json, math, statistics, sys
from scipy import stats

def interval(d):
    m = sum(d) / len(d)
    h = stats.t.ppf(0.975, len(d) - 1) * statistics.stdev(d) * math.sqrt(1 / len(d) + 1 / 4)
    return f'{m:+.2f} [{m - h:+.2f}, {m + h:+.2f}]'

rows = [json.loads(line) for line in open(sys.argv[1])]
base_rows = [json.loads(line) for line in open(sys.argv[3])] if len(sys.argv) > 3 else rows
base = base_rows[int(sys.argv[2]) if len(sys.argv) > 2 else 0]
print(f"against {json.dumps(base['cfg'])}: pair and digit error differences, percentage points")
for r in rows:
    n = len(r['errs'])
    pair = interval([a - b for a, b in zip(r['errs'], base['errs'][:n])])
    digit = interval([a - b for a, b in zip(r['derrs'], base['derrs'][:n])])
    print(f"{json.dumps(r['cfg']):80s} n={n:2d} {r['err']:5.2f} {r['derr']:5.2f} "
          f"{r['train_s'] + r['eval_s']:6.2f} s  pair {pair}  digit {digit}")
    if 'teacher_errs' in r:
        print(f"{'   the student against its teachers':80s}       {sum(r['teacher_errs']) / n:5.2f} "
              f"{sum(r['teacher_derrs']) / n:5.2f}           "
              f"pair {interval([a - b for a, b in zip(r['errs'], r['teacher_errs'])])}  "
              f"digit {interval([a - b for a, b in zip(r['derrs'], r['teacher_derrs'])])}")
