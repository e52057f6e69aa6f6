"""Write the report's tables, numbers and figures from the committed results files.

Everything the paper shows comes from results/: tables as LaTeX in
generated/, numbers quoted in the text as LaTeX macros in generated/numbers.tex,
figures as PDF in figures/ (matplotlib needed for those). `make` runs this,
then LaTeX.

Example (from the repository root):
    python -m report.make_assets
"""

import argparse
import glob
import json
import math
import os
import re
import statistics
import sys

from report import effects, plots, tune, unseen
from report.reproduction import PUBLISHED
from utils import completed, load_results, mean_std

HERE = os.path.dirname(os.path.abspath(__file__))

RESULTS = os.path.join(HERE, 'results')


def load(name):
    return load_results(os.path.join(RESULTS, name))


def pm(values, digits=1):
    mean, std = mean_std(values)
    return f'{mean:.{digits}f}' if math.isnan(std) else f'{mean:.{digits}f} $\\pm$ {std:.{digits}f}'


def tex_name(name):
    return '\\texttt{' + name.replace('_', '\\_') + '}'


def table(columns, header, rows):
    lines = ['\\begin{tabular}{' + columns + '}', '\\toprule', ' & '.join(header) + ' \\\\',
             '\\midrule'] + [' & '.join(map(str, row)) + ' \\\\' for row in rows]
    return '\n'.join(lines + ['\\bottomrule', '\\end{tabular}', ''])


def write(folder, name, text):
    with open(os.path.join(folder, name), 'w') as f:
        f.write(text)


def main_table(results, models):
    rows = []
    for name in models:
        runs = completed(results, name)
        digits = [r['held_out_digit_error'] for r in runs if r.get('held_out_digit_error') is not None]
        rows.append([tex_name(name), f"{runs[0]['params']:,}", pm(r['held_out_error'] for r in runs),
                     pm(digits) if digits else '--',
                     f"{statistics.median(r['train_time_s'] for r in runs):.1f}"])
    return table('lrrrr', ['model', 'params', 'test err \\%', 'digit err \\%', 's'], rows)


def effects_table(results):
    rows = []
    for row in effects.effects(results, effects.default_comparisons()):
        rows.append([row['effect'].replace('towers + both vs one 2-channel CNN', 'vs 2-channel CNN')
                     .replace('argmax of a digit classifier vs learned head', 'argmax vs head'),
                     f"{tex_name(row['without_model'])}$\\to${tex_name(row['with_model'])}",
                     f"{row['mean']:+.2f}", f"[{row['low']:+.2f}, {row['high']:+.2f}]",
                     effects.format_p(row['t_test_p']).replace('<', '$<$'),
                     effects.format_p(row['sign_flip_p']).replace('<', '$<$')])
    return table('llrrrr', ['effect', 'models', '$\\Delta$ pp', '95\\% CI', '$p_t$', '$p_{sf}$'],
                 rows)


def grid_scores(saved):
    return tune.scores_of(saved['results'], len(saved['settings']))


def sweep_table(saved):
    """Report 000's Table I: validation error per (alpha, beta)."""
    settings, scores = saved['settings'], grid_scores(saved)
    alphas = sorted({s['target_weight'] for s in settings})
    betas = sorted({s['aux_weight'] for s in settings})
    cell = {(s['target_weight'], s['aux_weight']): pm(v) for s, v in zip(settings, scores)}
    rows = [[f'{a:g}'] + [cell.get((a, b), '--') for b in betas] for a in alphas]
    return table('l' + 'r' * len(betas), ['$\\alpha \\backslash \\beta$'] + [f'{b:g}' for b in betas],
                 rows)


def optimizer_table(saved):
    settings, scores = saved['settings'], grid_scores(saved)
    rows = []
    for optimizer, index in saved['chosen'].items():
        tests = [t['held_out_error'] for t in completed(saved['results'])
                 if t['held_out'] == 'test' and t['tag']['setting'] == index]
        rows.append([optimizer, f"{settings[index]['lr']:g}", pm(scores[index], 2), pm(tests)])
    return table('lrrr', ['optimizer', 'rate', 'val err \\%', 'test err \\%'], rows)


def tuning_table(saved):
    settings, scores = saved['settings'], grid_scores(saved)
    rows = [[f"{s['lr']:g}", s['batch_size'], pm(v, 2) + (' *' if i == saved['chosen'] else '')]
            for i, (s, v) in enumerate(zip(settings, scores))]
    return table('rrr', ['rate', 'batch', 'val err \\%'], rows)


def ablation_table(validation, test, models):
    rows = []
    for name in models:
        val, tst = completed(validation, name), completed(test, name)
        rows.append([tex_name(name), pm((r['held_out_error'] for r in val), 2),
                     pm((r['held_out_error'] for r in tst), 2),
                     pm(r['held_out_digit_error'] for r in tst),
                     f"{statistics.median(r['train_time_s'] for r in tst):.0f}"])
    return table('lrrrr', ['model', 'val err \\%', 'test err \\%', 'digit \\%', 's'], rows)


def time_table(results, models):
    """Time to accuracy: every model of a run, fastest first, its test error,
    and its seconds per round (training + predicting the test pairs, median)
    also as a multiple of cnn_2ch's."""
    points = plots.seconds_and_errors(results, models)
    reference = points['cnn_2ch'][0]
    rows = [[tex_name(name), f"{completed(results, name)[0]['params']:,}",
             pm((r['held_out_error'] for r in completed(results, name)), 2),
             f'{seconds:.1f}', f'{seconds / reference:.2f}']
            for name, (seconds, _, _) in sorted(points.items(), key=lambda item: item[1][0])]
    return table('lrrrr', ['model', 'params', 'test err \\%', 's', '$\\times$ \\m{cnn\\_2ch}'], rows)


def record_ablation_table(validation, test, record, variants):
    """One ingredient of a record changed at a time: validation error (folds),
    test error, the paired change of test error against the record with its
    95% interval, and seconds per round (training + prediction, median)."""
    rows = []
    for name in [record, *variants]:
        val, tst = completed(validation, name), completed(test, name)
        change = '--'
        if name != record:
            effect = effects.effects(test, [(name, record, name)])[0]
            change = f"{effect['mean']:+.2f} [{effect['low']:+.2f}, {effect['high']:+.2f}]"
        rows.append([tex_name(name.replace(record + '_', '') if name != record else name),
                     pm((r['held_out_error'] for r in val), 2), pm((r['held_out_error'] for r in tst), 2),
                     change, f"{statistics.median(r['train_time_s'] + r['eval_time_s'] for r in tst):.1f}"])
    return table('lrrrr', ['variant', 'val err \\%', 'test err \\%', '$\\Delta$ test pp', 's'], rows)


def same_seeds(results, other):
    """The rounds of `results` whose seeds `other` (a results file) also has."""
    seeds = {r['seed'] for r in other['results']}
    return [r for r in results if r['seed'] in seeds]


def reports_table(results):
    rows = []
    for name, (their_name, mean, std, _, _) in PUBLISHED.items():
        runs = completed(results, name)
        if not runs:
            continue
        ours_mean, ours_std = mean_std(r['held_out_error'] for r in runs)
        flag = '' if abs(ours_mean - mean) <= 2 * ours_std else '$\\dagger$'
        rows.append([name.split('_')[0], their_name.replace('_', '\\_'), f'{mean:.1f} $\\pm$ {std:.1f}',
                     f'{ours_mean:.1f} $\\pm$ {ours_std:.1f}{flag}'])
    return table('llrr', ['rep.', 'system', 'theirs \\%', 'ours \\%'], rows)


def closeness_errors(results, model):
    """Test error % of `model` over pairs of equal digits, adjacent digits, and
    digits more than 2 apart (cell means of the per-digit-pair grid)."""
    grid, _ = plots.error_grid(results, model)
    cells = [(abs(a - b), grid[a][b]) for a in range(10) for b in range(10) if grid[a][b] is not None]
    mean = lambda keep: statistics.fmean(v for gap, v in cells if keep(gap))  # noqa: E731
    return mean(lambda gap: gap == 0), mean(lambda gap: gap == 1), mean(lambda gap: gap > 2)


def bench_numbers():
    with open(os.path.join(RESULTS, 'bench.txt')) as f:
        summary = json.loads(f.read().strip().splitlines()[-1])
    return summary


def data_size_files():
    """The data-size curves: results/pairs/main_N.json (the ten main models)
    and best_N.json, one of each per size N."""
    names = sorted(name for name in os.listdir(os.path.join(RESULTS, 'pairs'))
                   if re.fullmatch(r'(main|best)_\d+\.json', name))
    return [load(os.path.join('pairs', name)) for name in names]


EFFECT_KEYS = {'aux loss': 'Aux', 'weight sharing': 'Ws', 'both': 'Both'}  # LaTeX names: letters only


def data_size_numbers(sizes, models):
    """Macros for the text: the smallest and largest sizes, and there each
    encoder's aux-loss and weight-sharing effects (mean and 95% interval)."""
    (small, small_rows), *_, (large, large_rows) = plots.size_effects(sizes, models)
    numbers = dict(sizeSmall=f'{small:,}'.replace(',', '{,}'), sizeLarge=f'{large:,}'.replace(',', '{,}'))
    for end, rows in (('Small', small_rows), ('Large', large_rows)):
        for row in rows:
            what, family = row['effect'].split(', ')
            key = EFFECT_KEYS[what] + family.capitalize() + end
            numbers['size' + key] = f"{row['mean']:+.1f}"
            numbers['size' + key + 'CI'] = f"[{row['low']:+.1f}, {row['high']:+.1f}]"
    return numbers


def unseen_designs():
    """The --unseen study's two designs from results/unseen/, as report.unseen
    summarises them: {design: summary}, and {design: (seeds of the paired
    rounds, {first seed of a file with --unseen: the cells it kept out})}."""
    results, designs = {}, {}
    for design, pattern in (('position', 'position_*.json'), ('combination', 'combination*.json')):
        files = [load_results(path) for path in sorted(glob.glob(os.path.join(RESULTS, 'unseen', pattern)))]
        rounds = unseen.design_rounds(files)
        results[design] = unseen.summary(rounds)
        seeds = sorted({seed for runs in rounds.values() for seed, _, _ in runs})
        cells = {saved['config']['seed']: [tuple(cell) for cell in saved['config']['unseen']]
                 for saved in files if saved['config'].get('unseen')}
        designs[design] = seeds, cells
    return results, designs


def span(low, high):
    return f'{low:.1f}--{high:.1f}'


def tex_interval(effect):
    """report.unseen's `+m [+l, +h]` for the text: minus signs, no break inside the brackets."""
    return unseen.interval(effect).replace('-', '$-$').replace(', ', ',~')


def unseen_numbers(results, designs):
    """Macros for the text: the designs (seeds, rounds, the gap between the
    digits kept apart) and the README's answer, from the same summaries."""
    position, combination = results['position']['models'], results['combination']['models']
    rounds = {row['rounds'] for result in results.values() for row in result['models'].values()}
    if len(rounds) != 1:
        raise ValueError(f'the unseen designs have models with different rounds: {sorted(rounds)}')
    position_seeds, held_first = designs['position']
    combination_seeds, kept_apart = designs['combination']
    # The text's description of the designs: round d keeps digit d out of the first
    # place; a and a+k are kept apart in both orders, one k for every a.
    if any(set(cells) != {(seed - position_seeds[0], b) for b in range(10)}
           for seed, cells in held_first.items()):
        raise ValueError('a position round does not keep exactly its digit d out of the first place')
    pairs = {cell for cells in kept_apart.values() for cell in cells}
    gaps = {abs(b - a) for a, b in pairs}
    if len(gaps) != 1 or {(b, a) for a, b in pairs} != pairs:
        raise ValueError('the combination design does not keep a and a+k apart in both orders')
    # The tower models: all but cnn_2ch, which sees the pair as one image.
    towers = [row['cost'] for model, row in combination.items() if model != 'cnn_2ch']
    if any(effect['low'] > 0 for effect in towers):
        raise ValueError('a tower model pays measurably for two digits never seen together')
    learned = position['cnn_ws_aux']
    others = [position[m]['cost']['mean'] for m in ('mlp', 'mlp_aux', 'mlp_ws_aux', 'cnn', 'cnn_aux',
                                                    'cnn_ws_aux', 'cnn_2ch')]
    free = [position[m]['cost']['mean'] for m in ('mlp_ws', 'cnn_ws')]
    fixed = next(e for e in results['position']['effects']
                 if (e['without_model'], e['with_model']) == ('cnn_ws_aux', 'cnn_digits'))
    return dict(
        unseenRounds=rounds.pop(), unseenGap=gaps.pop(),
        unseenPositionSeeds=f'{position_seeds[0]}--{position_seeds[-1]}',
        unseenCombinationSeeds=f'{combination_seeds[0]}--{combination_seeds[-1]}',
        unseenLearnedWithout=f"{learned['excluded_without'][0]:.1f}",
        unseenLearnedWith=f"{learned['excluded_with'][0]:.1f}",
        unseenLearnedCost=tex_interval(learned['cost']),
        unseenLearnedMisread=f"{learned['misread_cost']['mean']:+.1f}",
        unseenTwoTowerMisread=f"{position['cnn_aux']['misread_cost']['mean']:+.1f}",
        unseenOthers=span(min(others), max(others)), unseenFree=span(min(free), max(free)),
        unseenFixedCost=tex_interval(position['cnn_digits']['cost']),
        unseenFixedCostMean=f"{position['cnn_digits']['cost']['mean']:+.1f}",
        unseenFixedGain=f"{-fixed['mean']:.1f}",
        unseenBestCost=tex_interval(position['best']['cost']),
        unseenTwoChCost=tex_interval(combination['cnn_2ch']['cost']),
    )


def macros(values):
    return ''.join(f'\\newcommand{{\\{key}}}{{{value}}}\n' for key, value in values.items())


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write the report's tables, numbers and figures.")
    parser.add_argument('--out', default=HERE,
                        help='folder that gets generated/ and figures/ (default: report/)')
    args = parser.parse_args(argv)
    generated = os.path.join(args.out, 'generated')
    figures = os.path.join(args.out, 'figures')
    os.makedirs(generated, exist_ok=True)
    os.makedirs(figures, exist_ok=True)
    default = load('default.json')
    main_models = default['config']['models']
    write(generated, 'main_table.tex', main_table(default['results'], main_models))
    write(generated, 'effects_table.tex', effects_table(default['results']))
    write(generated, 'sweep_table.tex', sweep_table(load('aux_sweep.json')))
    write(generated, 'optimizer_table.tex', optimizer_table(load('optimizers.json')))
    write(generated, 'tuning_table.tex', tuning_table(load('tune_lr_batch.json')))
    ablation_val, ablation_test = load('ablation_val.json'), load('ablation_test.json')
    best = load('best.json')
    write(generated, 'ablation_table.tex',
          ablation_table(ablation_val['results'],
                         ablation_test['results'] + same_seeds(best['results'], ablation_test),
                         ['best'] + ablation_test['config']['models']))
    write(generated, 'reports_table.tex', reports_table(load('reports.json')['results']))
    records = load('records.json')
    write(generated, 'time_table.tex', time_table(records['results'], records['config']['models']))
    for record in ('course_budget', 'fast'):
        validation, test = load(f'records_dev/{record}_ablation_folds.json'), load(f'{record}_ablation.json')
        variants = [name for name in test['config']['models'] if name != record]
        write(generated, f'{record}_ablation_table.tex',
              record_ablation_table(validation['results'], test['results'], record, variants))
    bench = bench_numbers()
    best_runs = completed(best['results'], 'best')
    best_mean, best_std = mean_std(r['held_out_error'] for r in best_runs)
    numbers = dict(
        benchReference=f"{bench['reference_s']:.2f}", benchProject=f"{bench['project_s']:.2f}",
        benchSpeedup=f"{bench['speedup']:.2f}", benchGflops=f"{bench['gflops']:.1f}",
        benchCeiling=f"{bench['ceiling_gflops']:.1f}",
        benchShare=f"{100 * bench['gflops'] / bench['ceiling_gflops']:.0f}",
        benchGflop=f"{bench['gflop']:.1f}",
        defaultRounds=default['config']['rounds'],
        bestError=f'{best_mean:.2f}', bestStd=f'{best_std:.2f}', bestRounds=len(best_runs),
        bestSeed=best['config']['seed'],
        bestTime=f"{statistics.median(r['train_time_s'] for r in best_runs):.0f}",
        bestDigitError=pm(r['held_out_digit_error'] for r in best_runs),
        bestParams=f"{best_runs[0]['params']:,}".replace(',', '{,}'),
    )
    points = plots.seconds_and_errors(records['results'], records['config']['models'])
    for key, name, reference in (('Budget', 'course_budget', 'cnn_2ch'), ('Fast', 'fast', 'best'),
                                 ('Ensemble', 'fast_ensemble', 'best')):
        seconds, mean, std = points[name]
        numbers.update({f'record{key}Error': f'{mean:.2f}', f'record{key}Std': f'{std:.2f}',
                        f'record{key}Time': f'{seconds:.1f}',
                        f'record{key}Ratio': f'{seconds / points[reference][0]:.2f}'})
    numbers.update(recordsSeed=records['config']['seed'],
                   recordsBestError=f"{points['best'][1]:.2f}", recordsBestTime=f"{points['best'][0]:.0f}",
                   recordsReferenceTime=f"{points['cnn_2ch'][0]:.2f}")
    equal, adjacent, far = closeness_errors(default['results'], 'cnn_ws_aux')
    numbers.update(heatEqual=f'{equal:.1f}', heatAdjacent=f'{adjacent:.1f}', heatFar=f'{far:.1f}')
    for name in main_models:
        runs = completed(default['results'], name)
        # LaTeX names take letters only: cnn_2ch -> \errCnnTwoch
        key = 'err' + ''.join(part.capitalize() for part in name.split('_')).replace('2', 'Two')
        numbers[key] = f"{statistics.fmean(r['held_out_error'] for r in runs):.1f}"
    sizes = plots.by_size(data_size_files())
    size_models = main_models + ['best']
    numbers.update(data_size_numbers(sizes, size_models))
    unseen_results, unseen_design = unseen_designs()
    numbers.update(unseen_numbers(unseen_results, unseen_design))
    write(generated, 'numbers.tex', macros(numbers))
    plt = plots.load_pyplot()
    if plt is None:
        return 1
    plots.plot_curves(plt, load('curves.json')['results'], main_models, figures)
    plots.plot_heatmap(plt, default['results'], 'cnn_ws_aux', figures)
    plots.plot_time_to_accuracy(plt, records['results'], records['config']['models'], figures)
    plots.plot_data_size(plt, sizes, size_models, figures, stacked=True)
    print(f'wrote {generated} and {figures}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
