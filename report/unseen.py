"""Pairs the training never showed: what weight sharing, the auxiliary loss and a
fixed comparison buy when a digit combination is kept out of the training pairs.

A design is a set of runs with `test.py --unseen` and the same seeds without
it: a round's excluded cells are the (first, second) digit combinations its
--unseen run kept out. On those cells of the 1000 test pairs, and on the other
cells, each run's test error comes from the per-cell mistakes the results hold
(held_out_mistakes); so the cost of the exclusion, with minus without, pairs
the same test pairs of the same round. The misread rate of the first image on
the excluded cells, from the towers' digit outputs, tells reading from
comparing. Intervals: 95% Student t over the rounds, which are independent.

Example:
    python -m report.unseen --position report/results/unseen/position_*.json \\
        --combination report/results/unseen/combination*.json --out report/figures
"""

import argparse
import json
import math
import os
import sys

from report.effects import paired_effect
from utils import completed, format_table, load_results, mean_std

MODELS = ('mlp', 'mlp_aux', 'mlp_ws', 'mlp_ws_aux', 'cnn', 'cnn_aux', 'cnn_ws', 'cnn_ws_aux',
          'cnn_2ch', 'cnn_digits', 'best')
# (effect, model without the ingredient, model with it), on the excluded cells of the
# runs with the exclusion.
COMPARISONS = (
    ('weight sharing, mlp', 'mlp', 'mlp_ws'),
    ('weight sharing, cnn', 'cnn', 'cnn_ws'),
    ('weight sharing with aux loss, cnn', 'cnn_aux', 'cnn_ws_aux'),
    ('aux loss, mlp', 'mlp', 'mlp_aux'),
    ('aux loss, cnn', 'cnn', 'cnn_aux'),
    ('both, mlp', 'mlp', 'mlp_ws_aux'),
    ('both, cnn', 'cnn', 'cnn_ws_aux'),
    ('fixed comparison vs learned head', 'cnn_ws_aux', 'cnn_digits'),
    ('best vs cnn_digits', 'cnn_digits', 'best'),
)


def cell_measures(run, cells):
    """% of the test pairs wrong on `cells` and on the other cells, and % of the
    first images misread on `cells` (None without digit outputs)."""
    mistakes = run['held_out_mistakes']
    inside = {tuple(cell) for cell in cells}

    def share(grid, where):
        counts = [(grid[a][b], mistakes['pairs_by_digits'][a][b])
                  for a in range(10) for b in range(10) if ((a, b) in inside) == where]
        return 100.0 * sum(k for k, _ in counts) / sum(n for _, n in counts)
    misread = mistakes.get('misread_by_digits')
    return dict(excluded=share(mistakes['wrong_by_digits'], True),
                rest=share(mistakes['wrong_by_digits'], False),
                misread=None if misread is None else share(misread[0], True))


def design_rounds(saved_files):
    """{model: [(seed, with-exclusion measures, without measures)]}, by seed: a
    run without --unseen is measured on the cells its seed's --unseen run kept out."""
    cells, runs = {}, {}
    for saved in saved_files:
        unseen = saved['config'].get('unseen')
        for run in completed(saved['results']):
            if run['held_out'] != 'test':
                raise ValueError('the unseen study needs runs scored on the test pairs')
            key = (run['model'], run['seed'], bool(unseen))
            if key in runs:
                raise ValueError(f"{run['model']} at seed {run['seed']} is given twice "
                                 f"{'with' if unseen else 'without'} --unseen")
            runs[key] = run
            if unseen:
                if cells.setdefault(run['seed'], unseen) != unseen:
                    raise ValueError(f"seed {run['seed']} is given with two --unseen sets")
    rounds = {}
    for (model, seed, excluded), run in sorted(runs.items(), key=lambda item: item[0][1]):
        partner = runs.get((model, seed, False))
        if excluded and partner is not None:
            rounds.setdefault(model, []).append(
                (seed, cell_measures(run, cells[seed]), cell_measures(partner, cells[seed])))
    if not rounds:
        raise ValueError('no run with --unseen has a run of the same model and seed without it')
    return rounds


def summary(rounds):
    """Per model: rounds, mean ± std of the four errors, and the paired costs of
    the exclusion on the excluded cells (pair error, first-image misreads); then
    the comparisons between models on the excluded cells, with exclusion."""
    models = [m for m in MODELS if m in rounds] + [m for m in rounds if m not in MODELS]
    table = {}
    for model in models:
        with_ = [w for _, w, _ in rounds[model]]
        without = [o for _, _, o in rounds[model]]
        row = dict(rounds=len(with_))
        for key in ('excluded', 'rest'):
            row[key + '_with'] = mean_std(m[key] for m in with_)
            row[key + '_without'] = mean_std(m[key] for m in without)
        row['cost'] = paired_effect([m['excluded'] for m in without], [m['excluded'] for m in with_])
        row['rest_cost'] = paired_effect([m['rest'] for m in without], [m['rest'] for m in with_])
        if all(m['misread'] is not None for m in with_ + without):
            row['misread_with'] = mean_std(m['misread'] for m in with_)
            row['misread_without'] = mean_std(m['misread'] for m in without)
            row['misread_cost'] = paired_effect([m['misread'] for m in without],
                                                [m['misread'] for m in with_])
        table[model] = row
    effects = []
    for name, a, b in COMPARISONS:
        if a in rounds and b in rounds:
            by_seed = {seed: w['excluded'] for seed, w, _ in rounds[b]}
            pairs = [(w['excluded'], by_seed[seed]) for seed, w, _ in rounds[a] if seed in by_seed]
            effects.append(dict(paired_effect(*zip(*pairs)), effect=name, without_model=a,
                                with_model=b))
    return dict(models=table, effects=effects)


def interval(effect):
    if math.isnan(effect['low']):
        return f"{effect['mean']:+.1f}"
    return f"{effect['mean']:+.1f} [{effect['low']:+.1f}, {effect['high']:+.1f}]"


def pm(pair):
    mean, std = pair
    return f'{mean:.1f}' if math.isnan(std) else f'{mean:.1f} ± {std:.1f}'


def summary_table(name, result):
    """The design's summary as text."""
    rows = [[model, row['rounds'], pm(row['excluded_without']), pm(row['excluded_with']),
             interval(row['cost']), interval(row['rest_cost']),
             interval(row['misread_cost']) if 'misread_cost' in row else '-']
            for model, row in result['models'].items()]
    header = ['model', 'rounds', 'excl. without', 'excl. with', 'cost (pp, 95%)', 'rest cost',
              'misread cost']
    effects = [[e['effect'], f"{e['without_model']} -> {e['with_model']}", e['rounds'],
                f"{e['without']:.1f} -> {e['with_']:.1f}", interval(e)] for e in result['effects']]
    return '\n'.join([
        f'{name}: test error % on the excluded cells without and with the exclusion (mean ± std '
        'over rounds), its cost (with minus without, 95% t interval), that on the other cells, '
        'and the cost in first images misread on the excluded cells',
        format_table(header, rows, '<>>>>>>'), '',
        f'{name}: between models on the excluded cells, with the exclusion (pp, 95% t interval)',
        format_table(['effect', 'models', 'rounds', 'error %', 'difference'], effects, '<<>>>')])


def plot(plt, results, out):
    """Per design, each model's test error on the excluded cells without and with
    the exclusion (means with 95% t intervals of the mean over rounds)."""
    from report.effects import t_quantile
    from report.plots import save
    titles = dict(position='position: digit d never first in training',
                  combination='combination: a and a+5 never together')
    figure, axes = plt.subplots(1, len(results), figsize=(3.6 * len(results), 2.9), squeeze=False)
    for ax, (name, result) in zip(axes[0], results.items()):
        models = list(result['models'])
        for offset, key, colour, label in ((-0.2, 'excluded_without', 'tab:gray', 'trained on all cells'),
                                           (0.2, 'excluded_with', 'tab:red', 'cells kept out')):
            means = [result['models'][m][key][0] for m in models]
            halves = [t_quantile(0.975, row['rounds'] - 1) * row[key][1] / math.sqrt(row['rounds'])
                      for row in result['models'].values()]
            ax.bar([i + offset for i in range(len(models))], means, width=0.4, color=colour,
                   yerr=halves, capsize=1.5, error_kw=dict(lw=0.6), label=label)
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels(models, rotation=60, ha='right', fontsize=6)
        ax.set_ylabel('test error on the excluded cells (%)', fontsize=7)
        ax.set_title(titles.get(name, name), fontsize=8)
        ax.grid(True, axis='y', lw=0.3, alpha=0.5)
    # One legend above both panels: inside one, it would hide the bars.
    figure.legend(*axes[0][0].get_legend_handles_labels(), loc='upper center', ncol=2, fontsize=7,
                  frameon=False, bbox_to_anchor=(0.5, 1.06))
    figure.tight_layout()
    return [save(figure, out, 'unseen.pdf', clear=False), save(figure, out, 'unseen.png')]


def main(argv=None):
    parser = argparse.ArgumentParser(description='Test error on digit combinations kept out of '
                                                 'training, and what each ingredient changes there.')
    parser.add_argument('--position', nargs='+', default=[], metavar='FILE.json',
                        help='results of the position design: runs with --unseen D:* and the same '
                             'seeds without it')
    parser.add_argument('--combination', nargs='+', default=[], metavar='FILE.json',
                        help='results of the combination design, with and without --unseen')
    parser.add_argument('--out', default=None, help='folder for unseen.pdf and .png (default: none)')
    parser.add_argument('--json', action='store_true', help='print the summaries as JSON instead')
    args = parser.parse_args(argv)
    designs = {name: files for name, files in (('position', args.position),
                                                ('combination', args.combination)) if files}
    if not designs:
        parser.error('give the results of --position, --combination or both')
    try:
        results = {name: summary(design_rounds([load_results(f) for f in files]))
                   for name, files in designs.items()}
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        print('\n\n'.join(summary_table(name, result) for name, result in results.items()))
    if args.out is not None:
        from report.plots import load_pyplot
        plt = load_pyplot()
        if plt is None:
            return 1
        os.makedirs(args.out, exist_ok=True)
        print('\n'.join(plot(plt, results, args.out)), file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == '__main__':
    sys.exit(main())
