"""Figures from results files: learning curves, errors per digit pair, mistakes.

matplotlib is optional: everything else in the project runs without it, and
this script says how to install it when it is missing.

  curves    per-epoch train and test loss and error, mean ± 1 std over rounds:
            one figure per model and one with every model's test error
            (needs a results file of `test.py --curves`)
  heatmap   test error (% of pairs) per (first digit, second digit), summed
            over rounds, for one model
  mistakes  a grid of misclassified test pairs of one model and round, with
            their true digits and the digits the model read (needs MNIST:
            the pairs are drawn again from the round's seed)
  time      time to accuracy: test error (mean ± std) against seconds per
            round (training + predicting the test pairs, median), log scales
  pairs     test error (mean ± std) against the number of training pairs, one
            line per model, from results files of test.py --pairs N (those of
            one size are merged, e.g. main_N.json and best_N.json), and the
            paired effects of the auxiliary loss and weight sharing at each
            size with their 95% intervals (figure and table)

Examples:
    python test.py --models main --curves --out report/results/curves.json
    python -m report.plots curves report/results/curves.json --out figures
    python -m report.plots heatmap report/results/default.json --model cnn_ws_aux --out figures
    python -m report.plots time report/results/records.json --out figures
    python -m report.plots pairs report/results/pairs/main_*.json report/results/pairs/best_*.json \\
        --out report/figures
    PYTORCH_DATA_DIR=../shared/data python -m report.plots mistakes report/results/default.json \\
        --model cnn_ws_aux --out figures
"""

import argparse
import math
import os
import statistics
import sys

from utils import completed, format_mean_std, format_table, load_results, mean_std

DIGITS = 10


def load_pyplot():
    """matplotlib.pyplot with a file-only backend, or None (with a message) if missing."""
    try:
        import matplotlib
    except ImportError:
        print('error: the figures need matplotlib, an optional extra: '
              'pip install matplotlib', file=sys.stderr)
        return None
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    plt.rcParams.update({'font.size': 8, 'axes.titlesize': 8, 'figure.dpi': 150})
    return plt


def mean_and_std_curves(runs, key):
    """Per-epoch mean and std (0 for one round) of history[key] over runs."""
    series = [r['history'][key] for r in runs]
    length = min(map(len, series))
    columns = [[s[i] for s in series] for i in range(length)]
    mean = [statistics.fmean(c) for c in columns]
    std = [statistics.stdev(c) if len(c) > 1 else 0.0 for c in columns]
    return mean, std


def band(ax, mean, std, label, **style):
    epochs = range(1, len(mean) + 1)
    line, = ax.plot(epochs, mean, label=label, **style)
    ax.fill_between(epochs, [m - s for m, s in zip(mean, std)],
                    [m + s for m, s in zip(mean, std)], color=line.get_color(), alpha=0.2, lw=0)


def model_curves(plt, runs, model):
    figure, (loss_ax, error_ax) = plt.subplots(1, 2, figsize=(6.4, 2.4))
    for split, label, style in (('train', 'train', dict(ls='--')),
                                ('held_out', runs[0]['held_out'], {})):
        band(loss_ax, *mean_and_std_curves(runs, f'{split}_loss'), label, **style)
        band(error_ax, *mean_and_std_curves(runs, f'{split}_error'), label, **style)
    loss_ax.set(xlabel='epoch', ylabel='loss', title=f'{model}: loss ({len(runs)} rounds)')
    error_ax.set(xlabel='epoch', ylabel='error (% of pairs)', title=f'{model}: error, mean ± std')
    error_ax.legend()
    figure.tight_layout()
    return figure


def plot_curves(plt, results, models, out):
    """One figure per model and a combined one; returns the files written."""
    with_curves = [m for m in models if completed(results, m)
                   and 'held_out_error' in completed(results, m)[0]['history']]
    if not with_curves:
        raise ValueError('no per-epoch test error in this file: run test.py with --curves')
    written = []
    combined, ax = plt.subplots(figsize=(3.4, 2.6))
    for model in with_curves:
        runs = completed(results, model)
        figure = model_curves(plt, runs, model)
        written.append(save(figure, out, f'curves_{model}.pdf'))
        band(ax, *mean_and_std_curves(runs, 'held_out_error'), model)
    ax.set(xlabel='epoch', ylabel='test error (% of pairs)', title='test error, mean ± std',
           ylim=(0, None))
    ax.legend(fontsize=6, ncol=2)
    combined.tight_layout()
    written.append(save(combined, out, 'curves_all.pdf'))
    return written


def error_grid(results, model):
    """(error % per (first, second) digit, None where no pair), summed over rounds."""
    runs = [r for r in completed(results, model) if 'held_out_mistakes' in r]
    if not runs:
        raise ValueError(f'no per-digit-pair errors for {model!r} in this file')
    def total(counts):
        return [[sum(r['held_out_mistakes'][counts][a][b] for r in runs) for b in range(DIGITS)]
                for a in range(DIGITS)]
    wrong, pairs = total('wrong_by_digits'), total('pairs_by_digits')
    grid = [[100.0 * w / p if p else None for w, p in zip(*rows)] for rows in zip(wrong, pairs)]
    return grid, len(runs)


def plot_heatmap(plt, results, model, out):
    grid, rounds = error_grid(results, model)
    figure, ax = plt.subplots(figsize=(3.4, 3.0))
    image = ax.imshow([[v if v is not None else float('nan') for v in row] for row in grid],
                      cmap='Reds', vmin=0)
    for a in range(DIGITS):
        for b in range(DIGITS):
            if grid[a][b]:
                ax.text(b, a, f'{grid[a][b]:.0f}', ha='center', va='center', fontsize=5)
    ax.set(xticks=range(DIGITS), yticks=range(DIGITS), xlabel='second digit', ylabel='first digit',
           title=f'{model}: test error % per digit pair ({rounds} rounds)')
    figure.colorbar(image, ax=ax, shrink=0.8)
    figure.tight_layout()
    return [save(figure, out, f'heatmap_{model}.pdf')]


def plot_mistakes(plt, results, model, round_index, data_dir, out, count=16):
    from train import round_pairs
    runs = [r for r in completed(results, model) if r['round'] == round_index]
    if any(r['held_out'] != 'test' for r in runs):
        raise ValueError('the mistakes grid needs runs scored on the test pairs')
    if not runs or 'held_out_mistakes' not in runs[0]:
        raise ValueError(f'no mistakes of {model!r} in round {round_index + 1} in this file')
    mistakes = runs[0]['held_out_mistakes']
    pairs = round_pairs(data_dir, runs[0]['seed'])
    shown = mistakes['wrong_pairs'][:count]
    if not shown:
        raise ValueError(f'{model!r} made no mistake in round {round_index + 1}')
    columns = 4
    rows = -(-len(shown) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(6.4, 1.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis('off')
    for k, (ax, i) in enumerate(zip(axes.flat, shown)):
        ax.imshow(pairs.test_input[i].transpose(0, 1).reshape(14, 28).numpy(), cmap='gray_r')
        true = pairs.test_classes[i].tolist()
        read = mistakes['digits_read'][k] if mistakes['digits_read'] else None
        ax.set_title(f'true {true[0]}{"<=" if true[0] <= true[1] else ">"}{true[1]}'
                     + (f', read {read[0]} {read[1]}' if read else ''), fontsize=6)
    figure.suptitle(f'{model}, round {round_index + 1}: {len(mistakes["wrong_pairs"])} '
                    f'misclassified test pairs, the first {len(shown)}', fontsize=8)
    figure.tight_layout()
    return [save(figure, out, f'mistakes_{model}.pdf')]


def seconds_and_errors(results, models):
    """{model: (median seconds per round, mean and std of the held-out error)}
    for the models with times, the seconds as the records count them: training
    plus predicting the held-out pairs (training alone in files older than
    eval_time_s)."""
    points = {}
    for model in models:
        runs = completed(results, model)
        if not runs:
            continue
        mean, std = mean_std(r['held_out_error'] for r in runs)
        points[model] = (statistics.median(r['train_time_s'] + r.get('eval_time_s', 0.0) for r in runs),
                         mean, 0.0 if math.isnan(std) else std)  # one round: no error bar
    return points


def time_to_accuracy_table(results, models):
    """The points of plot_time_to_accuracy as a text table, fastest first, with
    the seconds as ratios to cnn_2ch's and best's where the file has them."""
    points = seconds_and_errors(results, models)
    references = [name for name in ('cnn_2ch', 'best') if name in points]
    rows = [[model, f'{mean:.2f} ± {std:.2f}', f'{seconds:.2f}']
            + [f'{seconds / points[name][0]:.2f}' for name in references]
            for model, (seconds, mean, std) in sorted(points.items(), key=lambda item: item[1][0])]
    return format_table(['model', 'error %', 's per round'] + [f'x {name}' for name in references],
                        rows, '<>>' + '>' * len(references))


def plot_time_to_accuracy(plt, results, models, out):
    """Held-out error (mean ± std over rounds) against seconds per round (log
    scales), one labelled point per model, as PDF (the report) and PNG (the
    README); returns the files written."""
    points = seconds_and_errors(results, models)
    if not points:
        raise ValueError('none of these models has finished runs in this file')
    # The report's column width (3.5 in), so that its fonts print at the sizes set here.
    figure, ax = plt.subplots(figsize=(3.5, 2.9))
    drawn = {model: ax.errorbar(seconds, mean, yerr=std, fmt='o', ms=2.5, capsize=1.5, lw=0.8)
             for model, (seconds, mean, std) in points.items()}
    runs = completed(results, next(iter(points)))
    ax.set_xscale('log')
    ax.set_yscale('log')
    ax.set_xlabel('seconds per round, one core (training + prediction)', fontsize=7)
    ax.set_ylabel(f"{runs[0]['held_out']} error (% of pairs)", fontsize=7)
    ax.set_title(f'time to accuracy, mean ± std over {len(runs)} rounds', fontsize=8)
    ax.tick_params(labelsize=6)
    from matplotlib.ticker import FuncFormatter
    for axis in (ax.xaxis, ax.yaxis):  # 1 and 10, not 10^0 and 10^1
        axis.set_major_formatter(FuncFormatter(lambda value, _: f'{value:g}'))
    ax.grid(True, which='both', lw=0.3, alpha=0.5)
    figure.tight_layout()
    label_points(figure, ax, {model: (seconds, mean) for model, (seconds, mean, _) in points.items()},
                 errors={model: std for model, (_, _, std) in points.items()},
                 colours={model: bars[0].get_color() for model, bars in drawn.items()})
    return [save(figure, out, 'time_to_accuracy.pdf', clear=False), save(figure, out, 'time_to_accuracy.png')]


# Where a label may sit beside its point: directions (right, left, the four
# diagonals, above, below) at growing distances in points, tried in this order.
LABEL_DIRECTIONS = ((1, 0), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1))
LABEL_DISTANCES = (4, 8, 13, 19, 26, 34, 44)
LABEL_PAD = 1.0      # points of room kept around a label
MARKER_RADIUS = 2.0  # points, the markers' size with a margin
CAP_HALF_WIDTH = 2.0  # points, the error bars' caps with a margin


def label_points(figure, ax, points, errors=None, colours=None):
    """Name each point {label: (x, y)} beside it, its text in colours[label]
    where given, and return the labels' boxes in display units. Labels are
    placed from the top down, each at the first place (LABEL_DIRECTIONS at
    LABEL_DISTANCES) where its text, with LABEL_PAD around it, stays inside
    the axes, overlaps no label placed before, no marker and no error bar
    (errors[label]: the half-height of the point's bar, in data units), and,
    right beside its point, is nearer to it than to any other, so that it
    reads as that point's; a label further away gets a thin line to its
    point instead. Failing all that, the place with the fewest such faults."""
    figure.canvas.draw()  # fixes the axes' limits, so that boxes can be measured
    renderer = figure.canvas.get_renderer()
    from matplotlib.transforms import Bbox
    pixels = figure.dpi / 72.0
    errors, colours = errors or {}, colours or {}
    centres = {label: ax.transData.transform(xy) for label, xy in points.items()}
    obstacles = []  # (label, box): markers and error bars, as display boxes
    for label, (x, y) in points.items():
        cx, cy = centres[label]
        radius = MARKER_RADIUS * pixels
        obstacles.append((label, Bbox([[cx - radius, cy - radius], [cx + radius, cy + radius]])))
        if errors.get(label):
            low = ax.transData.transform((x, max(y - errors[label], 1e-12)))[1]
            high = ax.transData.transform((x, y + errors[label]))[1]
            half = CAP_HALF_WIDTH * pixels
            obstacles.append((label, Bbox([[cx - half, low], [cx + half, high]])))
    frame = ax.get_window_extent(renderer)

    def distance(box, centre):
        dx = max(box.x0 - centre[0], 0.0, centre[0] - box.x1)
        dy = max(box.y0 - centre[1], 0.0, centre[1] - box.y1)
        return math.hypot(dx, dy)

    def crosses(start, end, box):
        """Whether the segment from start to end passes through box (sampled)."""
        (x0, y0), (x1, y1) = start, end
        return any(box.contains(x0 + (x1 - x0) * k / 50, y0 + (y1 - y0) * k / 50) for k in range(51))

    def faults(box, label, line_end):
        """How many rules a label at box breaks; line_end: where its line to
        the point would end, None right beside the point (no line)."""
        padded = box.padded(LABEL_PAD * pixels)
        count = (sum(padded.overlaps(other) for other in boxes)
                 + sum(padded.overlaps(other) for _, other in obstacles)
                 + (not (frame.x0 <= box.x0 and box.x1 <= frame.x1
                         and frame.y0 <= box.y0 and box.y1 <= frame.y1)))
        if line_end is None:
            own = distance(box, centres[label])
            return count + any(distance(box, centre) <= own for other, centre in centres.items()
                               if other != label)
        return count + sum(crosses(centres[label], line_end, other) for other in boxes) + sum(
            crosses(centres[label], line_end, other) for owner, other in obstacles if owner != label)

    boxes = []
    for label, xy in sorted(points.items(), key=lambda item: -item[1][1]):
        best = None
        for length in LABEL_DISTANCES:
            for ux, uy in LABEL_DIRECTIONS:
                scale = length / math.hypot(ux, uy)
                text = ax.annotate(label, xy, textcoords='offset points', xytext=(ux * scale, uy * scale),
                                   fontsize=6, color=colours.get(label, 'black'),
                                   ha={1: 'left', -1: 'right', 0: 'center'}[ux],
                                   va={1: 'bottom', -1: 'top', 0: 'center'}[uy])
                box = text.get_window_extent(renderer)
                cx, cy = centres[label]
                line_end = None if length == LABEL_DISTANCES[0] else (
                    cx + ux * scale * pixels, cy + uy * scale * pixels)
                count = faults(box, label, line_end)
                if best is None or count < best[0]:
                    if best is not None:
                        best[1].remove()
                    # The line leaves the text where the text is anchored, the corner or
                    # side nearest the point: ((0, 0) is its bottom left, (1, 1) its top right).
                    best = (count, text, box, length, ((1 - ux) / 2, (1 - uy) / 2))
                else:
                    text.remove()
                if count == 0:
                    break
            if best[0] == 0:
                break
        _, text, box, length, anchor = best
        if length > LABEL_DISTANCES[0]:  # the same text, with a line to its point
            text.remove()
            colour = colours.get(label, 'black')
            ax.annotate(label, xy, textcoords='offset points', xytext=text.xyann, fontsize=6,
                        color=colour, ha=text.get_ha(), va=text.get_va(),
                        arrowprops=dict(arrowstyle='-', lw=0.4, color=colour, shrinkA=0,
                                        shrinkB=MARKER_RADIUS, relpos=anchor))
        boxes.append(box)
    return boxes


def save(figure, out, name, clear=True):
    path = os.path.join(out, name)
    metadata = {'CreationDate': None} if name.endswith('.pdf') else {'Software': None}
    # reproducible: no date; a PNG (the README's) at twice the screen's resolution
    dpi = 200 if name.endswith('.png') else 'figure'
    figure.savefig(path, bbox_inches='tight', metadata=metadata, dpi=dpi)
    if clear:
        figure.clf()
    return path


# The effects drawn against the number of training pairs, per encoder.
SIZE_EFFECTS = (('aux loss', '{f}', '{f}_aux'), ('weight sharing', '{f}', '{f}_ws'),
                ('both', '{f}', '{f}_ws_aux'))


# One colour per ingredient, dashed for the MLP and solid for the CNN, so the
# curves of one ingredient and their effects read alike in both panels.
INGREDIENT_COLOURS = {'': 'tab:gray', '_aux': 'tab:blue', '_ws': 'tab:orange', '_ws_aux': 'tab:green'}
OTHER_COLOURS = {'cnn_2ch': 'tab:purple', 'cnn_digits': 'tab:red', 'best': 'black'}


def size_style(model):
    """Colour and line style of a model (or of an effect, by the model it leads to)."""
    if model in OTHER_COLOURS:
        return dict(color=OTHER_COLOURS[model], ls='-.' if model == 'best' else ':')
    family, _, ingredient = model.partition('_')
    return dict(color=INGREDIENT_COLOURS.get('_' + ingredient if ingredient else '', None),
                ls='--' if family == 'mlp' else '-')


def by_size(saved_files):
    """[(training pairs, completed test runs)] of results files (test.py --pairs
    N), smallest first. Files of one size are merged (say main_N.json and
    best_N.json), so their rounds pair by seed; one model in two files of one
    size is refused."""
    sizes = {}
    for saved in saved_files:
        pairs = saved['config'].get('pairs', 1000)
        runs = completed(saved['results'])
        if any(r['held_out'] != 'test' for r in runs):
            raise ValueError('the data-size curves need runs scored on the test pairs')
        size = sizes.setdefault(pairs, [])
        twice = sorted({r['model'] for r in runs} & {r['model'] for r in size})
        if twice:
            raise ValueError(f"two files at {pairs:,} training pairs hold {', '.join(twice)}; "
                             'give each model once per size')
        size.extend(runs)
    return sorted(sizes.items())


def size_effects(sizes, models):
    """[(pairs, effect rows of report.effects)] for SIZE_EFFECTS of each encoder
    whose models are all in `models`."""
    from report import effects
    comparisons = [(f'{name}, {family}', a.format(f=family), b.format(f=family))
                   for family in ('mlp', 'cnn') for name, a, b in SIZE_EFFECTS
                   if {a.format(f=family), b.format(f=family)} <= set(models)]
    return [(pairs, effects.effects(runs, comparisons)) for pairs, runs in sizes]


def data_size_table(sizes, models):
    """Test error % (mean ± std, rounds) per model and size, then the paired
    effects per size, as text."""
    header = ['model'] + [f'{pairs:,}' for pairs, _ in sizes]
    rows = [[model] + [format_mean_std([r['held_out_error'] for r in runs if r['model'] == model])
                       + f" ({sum(r['model'] == model for r in runs)})" for _, runs in sizes]
            for model in models]
    lines = ['test error % (rounds) against training pairs',
             format_table(header, rows, '<' + '>' * len(sizes))]
    effect_rows = []
    for pairs, rows_of_size in size_effects(sizes, models):
        effect_rows += [[row['effect'], f'{pairs:,}', row['rounds'], f"{row['mean']:+.2f}",
                         '-' if math.isnan(row['low']) else f"[{row['low']:+.2f}, {row['high']:+.2f}]"]
                        for row in rows_of_size]
    effect_rows.sort(key=lambda row: row[0])
    lines += ['', 'paired effects (with minus without, percentage points, 95% t interval over rounds)',
              format_table(['effect', 'pairs', 'rounds', 'diff', '95% interval'], effect_rows, '<>>>>')]
    return '\n'.join(lines)


def plot_data_size(plt, sizes, models, out, stacked=False):
    """Two panels against the training pairs (log x): each model's test error,
    mean ± std; the effects of size_effects with their 95% intervals. Side by
    side in data_size.pdf/png, or stacked for a paper's column in
    data_size_column.pdf."""
    figure, (error_ax, effect_ax) = plt.subplots(*((2, 1) if stacked else (1, 2)),
                                                 figsize=(3.5, 4.0) if stacked else (7.0, 2.8))
    pairs = [n for n, _ in sizes]
    for model in models:
        points = [(n, *mean_std([r['held_out_error'] for r in runs if r['model'] == model]))
                  for n, runs in sizes if any(r['model'] == model for r in runs)]
        error_ax.errorbar([n for n, _, _ in points], [m for _, m, _ in points],
                          yerr=[0.0 if math.isnan(sd) else sd for _, _, sd in points],
                          marker='o', ms=2.5, lw=0.8, capsize=1.5, label=model, **size_style(model))
    error_ax.set(xscale='log', yscale='log', xlabel='training pairs', ylabel='test error (% of pairs)')
    from matplotlib.ticker import FuncFormatter, LogLocator
    error_ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    error_ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f'{value:g}'))
    lines = {}
    for n, rows in size_effects(sizes, models):
        for row in rows:
            lines.setdefault((row['effect'], row['with_model']), []).append(
                (n, row['mean'], row['low'], row['high']))
    for index, ((effect, with_), points) in enumerate(lines.items()):
        # Each effect a little apart on the log axis, so the intervals do not hide one another.
        shift = 1.04 ** (index - (len(lines) - 1) / 2)
        xs, means = [p[0] * shift for p in points], [p[1] for p in points]
        errors = [[m - lo for _, m, lo, _ in points], [hi - m for _, m, _, hi in points]]
        effect_ax.errorbar(xs, means, yerr=errors, marker='o', ms=2.5, lw=0.8, capsize=1.5,
                           label=effect, **size_style(with_))
    effect_ax.axhline(0, color='black', lw=0.5)
    effect_ax.set(xscale='log', xlabel='training pairs', ylabel='paired effect on test error (pp)')
    for ax in (error_ax, effect_ax):
        # Beside the panel: inside it, the legend would hide the curves' small-N ends.
        ax.legend(fontsize=5, loc='upper left', bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        ax.set_xticks(pairs)
        ax.set_xticklabels([f'{n:,}' for n in pairs], rotation=45, fontsize=6)
        ax.minorticks_off()
        ax.grid(True, lw=0.3, alpha=0.5)
    figure.tight_layout()
    if stacked:
        return [save(figure, out, 'data_size_column.pdf')]
    return [save(figure, out, 'data_size.pdf', clear=False), save(figure, out, 'data_size.png')]


def main(argv=None):
    parser = argparse.ArgumentParser(description='Figures from a results file of test.py.')
    parser.add_argument('figure', choices=('curves', 'heatmap', 'mistakes', 'time', 'pairs'))
    parser.add_argument('results', nargs='+',
                        help='a results JSON written by test.py --out; for pairs, one per size')
    parser.add_argument('--model', default=None,
                        help='the model (heatmap, mistakes; for curves and time: default every model)')
    parser.add_argument('--round', type=int, default=1, help='mistakes: which round (default: 1)')
    parser.add_argument('--data_dir', default=None,
                        help='mistakes: folder holding mnist/ (default: $PYTORCH_DATA_DIR, else ./data)')
    parser.add_argument('--out', default='figures', help='folder for the PDFs (default: %(default)s)')
    args = parser.parse_args(argv)
    if args.figure != 'pairs' and len(args.results) > 1:
        parser.error(f'{args.figure} takes one results file ({len(args.results)} given)')
    try:
        saved_files = [load_results(path) for path in args.results]
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    results = [run for saved in saved_files for run in saved['results']]
    models = list(dict.fromkeys(r['model'] for r in results))
    if args.model is not None and args.model not in models:
        print(f'error: no model {args.model!r} in {", ".join(args.results)}; it has {", ".join(models)}',
              file=sys.stderr)
        return 1
    if args.figure in ('heatmap', 'mistakes') and args.model is None:
        print(f'error: {args.figure} needs --model (one of {", ".join(models)})', file=sys.stderr)
        return 1
    plt = load_pyplot()
    if plt is None:
        return 1
    os.makedirs(args.out, exist_ok=True)
    from dlc_practical_prologue import MnistUnavailable
    try:
        if args.figure == 'curves':
            written = plot_curves(plt, results, [args.model] if args.model else models, args.out)
        elif args.figure == 'time':
            chosen = [args.model] if args.model else models
            print(time_to_accuracy_table(results, chosen))
            written = plot_time_to_accuracy(plt, results, chosen, args.out)
        elif args.figure == 'pairs':
            chosen = [args.model] if args.model else models
            sizes = by_size(saved_files)
            print(data_size_table(sizes, chosen))
            written = plot_data_size(plt, sizes, chosen, args.out)
        elif args.figure == 'heatmap':
            written = plot_heatmap(plt, results, args.model, args.out)
        else:
            written = plot_mistakes(plt, results, args.model, args.round - 1,
                                    args.data_dir, args.out)
    except (ValueError, MnistUnavailable) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    print('\n'.join(written))
    return 0


if __name__ == '__main__':
    sys.exit(main())
