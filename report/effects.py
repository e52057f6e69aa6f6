"""Paired effects: what weight sharing and the auxiliary loss change, with uncertainty.

In round r every model of a test.py run sees the same pairs (those of seed
S+r; rounds are matched by seed, also across files), so the effect of
an ingredient is measured on paired differences d_r = error(with) - error(without)
(percentage points of test error). For each effect this prints the mean
difference, its 95% interval (Student t), the paired t-test p-value and the
exact sign-flip permutation p-value (all 2^n sign patterns for n <= 16
rounds, else 100,000 random ones); negative differences mean the ingredient
helps. With --digits, the digit errors are compared instead.

Test rounds (and validation rounds: one split of each round's own pairs) are
independent, as both tests assume. The K folds of a K-fold round (test.py
--folds K, or report.tune --folds K, whose settings count as models) are not:
any two of its fits share (K-2)/(K-1) of their training pairs, so their
differences are positively correlated and the plain t interval is too narrow.
For fold runs the interval and t-test use the corrected resampled t
(Nadeau and Bengio, "Inference for the generalization error", Machine
Learning 52, 2003; Bouckaert and Frank, "Evaluating the replicability of
significance tests for comparing learning algorithms", PAKDD 2004): over J
fits the mean's variance is (1/J + n_test/n_train) s^2 = (1/J + 1/(K-1)) s^2
instead of s^2/J, with J - 1 degrees of freedom. The sign-flip test flips whole
rounds (each round's mean over its folds), since only rounds are exchangeable;
with R rounds it cannot give a p below 2/2^R, so under 6 rounds it is left out
and the output says so.

Examples:
    python -m report.effects report/results/default.json
    python -m report.effects report/results/default.json --compare cnn_2ch:cnn_ws_aux --json
    python -m report.effects report/results/best.json report/results/ablation_test.json --against best
    python -m report.effects report/results/best_dev/folds_seed300.json --against best    # validation folds
    python -m report.effects report/results/best_dev/folds_seed300.json --against best --digits
    # tuning settings (report.tune --out) against a test.py run on the same seeds and folds
    python -m report.effects report/results/best_dev/folds_seed300.json \\
        report/results/best_dev/weight_decay_folds_seed300.json --against best
    # the held-out pairs that best gets wrong: which other models get them wrong too
    python -m report.effects report/results/best_dev/*_seed300.json --shared_mistakes best
"""

import argparse
import itertools
import json
import math
import random
import re
import statistics
import sys

from utils import completed, format_table, load_results, run_key

# (effect, model without it, model with it), for each encoder family present.
FAMILY_EFFECTS = (
    ('weight sharing', '{f}', '{f}_ws'),
    ('weight sharing, with aux loss', '{f}_aux', '{f}_ws_aux'),
    ('aux loss', '{f}', '{f}_aux'),
    ('aux loss, with weight sharing', '{f}_ws', '{f}_ws_aux'),
    ('both', '{f}', '{f}_ws_aux'),
)
FAMILIES = ('mlp', 'cnn')
EXTRA_EFFECTS = (
    ('towers + both vs one 2-channel CNN', 'cnn_2ch', 'cnn_ws_aux'),
    ('argmax of a digit classifier vs learned head', 'cnn_ws_aux', 'cnn_digits'),
)


def t_density(x, dof):
    log_norm = (math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2)
                - 0.5 * math.log(dof * math.pi))
    return math.exp(log_norm - (dof + 1) / 2 * math.log1p(x * x / dof))


def t_cdf(t, dof, steps=4000):
    """P(T <= t) for Student's t with `dof` degrees of freedom (Simpson's rule)."""
    upper = min(abs(t), 1e3)
    h = upper / steps
    inner = sum((4 if i % 2 else 2) * t_density(i * h, dof) for i in range(1, steps))
    area = h / 3 * (t_density(0.0, dof) + inner + t_density(upper, dof))
    return 0.5 + math.copysign(min(area, 0.5), t)


def t_quantile(p, dof):
    """The t with t_cdf(t, dof) = p, by Newton's method from the normal quantile."""
    t = statistics.NormalDist().inv_cdf(p)
    for _ in range(50):
        step = (t_cdf(t, dof) - p) / t_density(t, dof)
        t -= step
        if abs(step) < 1e-10:
            break
    return t


def sign_flip_p(differences, samples=100_000, seed=0):
    """Two-sided p-value of the sign-flip permutation test of mean zero: the
    share of sign patterns whose |mean| is at least the observed one."""
    observed = abs(sum(differences)) - 1e-9
    n = len(differences)
    if n <= 16:
        patterns = itertools.product((1, -1), repeat=n)
        total = 2 ** n
    else:
        rng = random.Random(seed)
        patterns = ([rng.choice((1, -1)) for _ in range(n)] for _ in range(samples))
        total = samples
    hits = sum(abs(sum(s * d for s, d in zip(signs, differences))) >= observed
               for signs in patterns)
    return hits / total


# Over R whole rounds the sign-flip test cannot give a p below 2 / 2^R (0.5 for
# 2 rounds, 0.0625 for 5): from 6 rounds on it can reach 0.05.
SIGN_FLIP_MIN_ROUNDS = 6
CORRECTED_T = ('corrected resampled t (Nadeau and Bengio 2003; Bouckaert and Frank 2004), '
               'sign-flip over whole rounds')


def paired_effect(without, with_, rounds_of=None, folds=None):
    """Statistics of the paired differences with_ - without (two equal-length
    lists). For K-fold runs, `folds` is K and `rounds_of` names the round of
    each difference: the interval and t-test are then the corrected resampled
    t, and the sign-flip test flips whole rounds (see the docstring on top)."""
    differences = [b - a for a, b in zip(without, with_)]
    n = len(differences)
    mean = statistics.fmean(differences)
    effect = dict(rounds=n, mean=mean, without=statistics.fmean(without),
                  with_=statistics.fmean(with_))
    if folds is None:
        effect['sign_flip_p'] = sign_flip_p(differences)
        # How many independent differences the interval may count on: all of them.
        effective_n = n
    else:
        round_means = [statistics.fmean(d for d, r in zip(differences, rounds_of) if r == name)
                       for name in dict.fromkeys(rounds_of)]
        effect.update(rounds=len(round_means), fits=n, folds=folds, method=CORRECTED_T,
                      sign_flip_p=(sign_flip_p(round_means)
                                   if len(round_means) >= SIGN_FLIP_MIN_ROUNDS else math.nan))
        # Var(mean) = (1/J + n_test/n_train) s^2, and n_test/n_train = 1/(K-1).
        effective_n = 1 / (1 / n + 1 / (folds - 1))
    if n < 2:
        return dict(effect, low=math.nan, high=math.nan, t_test_p=math.nan)
    std = statistics.stdev(differences)
    half = t_quantile(0.975, n - 1) * std / math.sqrt(effective_n)
    if std == 0:
        t_test_p = 1.0 if mean == 0 else 0.0
    else:
        t = mean / (std / math.sqrt(effective_n))
        t_test_p = 2 * (1 - t_cdf(abs(t), n - 1))
    return dict(effect, low=mean - half, high=mean + half, t_test_p=t_test_p)


def pairing(run):
    """What pairs two models' runs, also across results files: run_key but the
    model (the seed names the round's pairs; the held-out set and the fold, the
    pairs scored)."""
    return run_key(run)[1:]


def errors_by_round(results, model, measure='held_out_error'):
    """{pairing: held-out error} of a model's completed runs. `measure`:
    'held_out_error' (% of pairs) or 'held_out_digit_error' (% of digit
    images; runs without it are left out)."""
    return {pairing(r): r[measure] for r in completed(results, model)
            if r.get(measure) is not None}


def fold_count(config):
    """K of a K-fold results file, read from the held-out description that
    train.held_out_sets described in its config; None for other files."""
    match = re.match(r'(\d+)-fold cross-validation', str(config.get('held_out', '')))
    return int(match.group(1)) if match else None


def runs_as_models(saved):
    """The runs of a results file, each fold run with its file's K as 'folds';
    those of a report.tune file each named as a model of its own: 'MODEL (axis
    value, ...)' for its setting."""
    runs = saved['results']
    if 'settings' in saved:
        names = [f"{saved['config']['model']} ({', '.join(f'{k} {v}' for k, v in setting.items())})"
                 for setting in saved['settings']]
        runs = [dict(run, model=names[run['tag']['setting']]) for run in runs]
    folds = fold_count(saved['config'])
    return [dict(run, folds=folds) if run['held_out'] == 'fold' and folds else run for run in runs]


def fold_counts(results):
    """{pairing: K} of the K-fold runs of `results`: K as runs_as_models read it
    from the file's config, else 1 + the largest fold index of the runs."""
    largest = max((r['tag']['fold'] for r in results if r['held_out'] == 'fold'), default=0)
    return {pairing(r): r.get('folds', max(2, largest + 1))
            for r in results if r['held_out'] == 'fold'}


def effects(results, comparisons, measure='held_out_error'):
    """One dict per comparison (name, without, with) whose two models both have
    rounds in `results`, over the rounds both completed. Where the two models
    have K-fold runs and other rounds too, each kind gets a row, the fold
    row's name ending in ' (folds)'."""
    folds = fold_counts(results)
    rows = []
    for name, without, with_ in comparisons:
        a, b = errors_by_round(results, without, measure), errors_by_round(results, with_, measure)
        common = sorted(set(a) & set(b))
        kinds = {False: [key for key in common if key not in folds],
                 True: [key for key in common if key in folds]}
        for in_folds, keys in kinds.items():
            if not keys:
                continue
            design = {}
            if in_folds:
                counts = {folds[key] for key in keys}
                if len(counts) > 1:
                    raise ValueError(f'{name}: its fold runs come from {sorted(counts)}-fold '
                                     'cross-validations; compare them one K at a time')
                design = dict(rounds_of=[key[0] for key in keys], folds=counts.pop())
            rows.append(dict(effect=name + (' (folds)' if in_folds and kinds[False] else ''),
                             without_model=without, with_model=with_,
                             **paired_effect([a[r] for r in keys], [b[r] for r in keys], **design)))
    return rows


def shared_mistakes(results, model):
    """How many of `model`'s wrong held-out pairs each other model of `results`
    also gets wrong, over the runs (seed, fold) that every model completed:
    (runs, {model: [pairs it also gets wrong, of the model's]}, wrong in all)."""
    wrong = {}
    for r in completed(results):
        if 'held_out_mistakes' in r:
            wrong.setdefault(r['model'], {})[pairing(r)] = set(r['held_out_mistakes']['wrong_pairs'])
    if model not in wrong:
        return 0, {}, 0
    runs = set.intersection(*(set(by_run) for by_run in wrong.values()))
    own = {key: wrong[model][key] for key in runs}
    total = sum(map(len, own.values()))
    overlap = {other: sum(len(own[key] & by_run[key]) for key in runs)
               for other, by_run in wrong.items() if other != model}
    in_all = sum(len(own[key].intersection(*(wrong[o][key] for o in overlap))) for key in runs)
    return len(runs), dict(overlap, **{model: total}), in_all


def shared_mistakes_table(results, model):
    runs, overlap, in_all = shared_mistakes(results, model)
    total = overlap.pop(model, 0)
    share = lambda count: f'{count} ({100 * count / total:.0f}%)' if total else '0'  # noqa: E731
    rows = [[other, share(count)] for other, count in overlap.items()]
    return '\n'.join([f'{model} errs on {total} held-out pairs in the {runs} runs that all '
                      f'{len(overlap) + 1} models completed',
                      format_table(['model', f"also wrong, of {model}'s {total}"], rows, '<>'),
                      f'wrong in every model: {share(in_all)}'])


def default_comparisons():
    return [(name, a.format(f=family), b.format(f=family))
            for family in FAMILIES for name, a, b in FAMILY_EFFECTS] + list(EXTRA_EFFECTS)


def format_p(p):
    return '-' if math.isnan(p) else ('<0.001' if p < 0.001 else f'{p:.3f}')


def runs_cell(row):
    """How many paired differences: rounds, or for fold rows fits = rounds x folds."""
    if 'fits' not in row:
        return row['rounds']
    whole = row['fits'] == row['rounds'] * row['folds']
    return f"{row['fits']} {'=' if whole else 'in'} {row['rounds']}x{row['folds']}"


def fold_note(rows):
    """What the fold rows' statistics are, printed under a table that has some."""
    fold_rows = [row for row in rows if 'fits' in row]
    if not fold_rows:
        return ''
    left_out = [row['rounds'] for row in fold_rows if row['rounds'] < SIGN_FLIP_MIN_ROUNDS]
    lines = ['Rows of K-fold runs (J = R rounds x K folds): the folds of a round share its training',
             'pairs, so the interval and t-test p are the corrected resampled t (Nadeau and Bengio',
             '2003; Bouckaert and Frank 2004): the mean of the J differences has variance',
             '(1/J + 1/(K-1)) s^2, with J - 1 degrees of freedom. The sign-flip test flips whole']
    if left_out:
        most = max(left_out)
        lines += [f"rounds (a round's mean over its folds); R rounds give no p below 2/2^R "
                  f'({2 / 2 ** most:.2f} for {most}),',
                  f'so under {SIGN_FLIP_MIN_ROUNDS} rounds it is left out (-).']
    else:
        lines.append("rounds (a round's mean over its folds).")
    return '\n'.join(lines)


def effects_table(rows, held_out='test'):
    body = [[row['effect'], f"{row['without_model']} -> {row['with_model']}", runs_cell(row),
             f"{row['without']:.1f} -> {row['with_']:.1f}", f"{row['mean']:+.2f}",
             f"[{row['low']:+.2f}, {row['high']:+.2f}]", format_p(row['t_test_p']),
             format_p(row['sign_flip_p'])]
            for row in rows]
    header = ['effect', 'models', 'runs', f'{held_out} err %', 'diff (pp)', '95% interval',
              't-test p', 'sign-flip p']
    return format_table(header, body, '<<>>>>>>')


def comparison(text):
    """argparse type: WITHOUT:WITH, two model names."""
    parts = text.split(':')
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f'{text!r}: expected WITHOUT:WITH, two model names')
    return (f'{parts[0]} vs {parts[1]}', parts[0], parts[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description='Paired effects between the models of a results file.')
    parser.add_argument('results', nargs='+',
                        help='results JSONs written by test.py --out or report.tune --out (rounds '
                             'are paired by seed, and folds by fold, with the corrected '
                             'resampled t for folds; each tuning setting counts as a model)')
    parser.add_argument('--compare', type=comparison, action='append', default=None,
                        metavar='WITHOUT:WITH',
                        help='a pair of models to compare (repeatable; default: weight sharing, '
                             'aux loss and both, per encoder family, and two more)')
    parser.add_argument('--against', default=None, metavar='MODEL',
                        help='compare every other model of the files with this one')
    parser.add_argument('--digits', action='store_true',
                        help="compare the digit error of the models' auxiliary outputs (%% of "
                             'digit images) instead of the pair error')
    parser.add_argument('--shared_mistakes', default=None, metavar='MODEL',
                        help="instead of effects: how many of MODEL's wrong held-out pairs each "
                             'other model gets wrong too, and how many every model does')
    parser.add_argument('--json', action='store_true', help='print the rows as JSON instead')
    args = parser.parse_args(argv)
    results = []
    for path in args.results:
        try:
            results += runs_as_models(load_results(path))
        except ValueError as error:
            print(f'error: {error}', file=sys.stderr)
            return 1
    if args.shared_mistakes is not None:
        if args.shared_mistakes not in {r['model'] for r in results}:
            print(f'error: --shared_mistakes {args.shared_mistakes!r}: no such model in the files',
                  file=sys.stderr)
            return 1
        print(shared_mistakes_table(results, args.shared_mistakes))
        return 0
    comparisons = args.compare or []
    if args.against is not None:
        others = [m for m in dict.fromkeys(r['model'] for r in results) if m != args.against]
        comparisons += [(m, args.against, m) for m in others]
    measure = 'held_out_digit_error' if args.digits else 'held_out_error'
    try:
        rows = effects(results, comparisons or default_comparisons(), measure)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    if not rows:
        print('error: no comparison has both of its models in the file', file=sys.stderr)
        return 1
    scored_on = {r['held_out'] for r in results}
    label = ('test' if scored_on == {'test'} else 'val') + (' digit' if args.digits else '')
    note = fold_note(rows)
    print(json.dumps(rows, indent=1) if args.json else
          effects_table(rows, label) + (f'\n{note}' if note else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
