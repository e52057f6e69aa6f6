"""Choose hyper-parameters without the test pairs: a grid on validation splits.

Every setting of the grid (the product of the values given) trains on the same
rounds' training pairs and is scored on held-out training pairs: the last 200
(default), or K-fold cross-validation with --folds K. The test pairs of those
rounds are never used. The table gives the validation error (% of pairs,
mean ± std over rounds and folds) per setting, and marks the chosen one (the
lowest mean). With --per AXIS, one setting is chosen for each value of that
axis (e.g. the best rate for each optimizer). With --test_rounds N, each chosen
setting is then trained on all 1000 training pairs and measured on the test
pairs of N new rounds, whose seeds the tuning never used.

Examples:
    python -m report.tune cnn_ws_aux --lr 3e-4,1e-3,3e-3 --batch_size 50,100 --rounds 3
    python -m report.tune cnn_ws_aux --folds 10 --rounds 1 --epochs 15,25,40
    # report 000's Table I: alpha * L_target + beta * (L_digit1 + L_digit2)
    python -m report.tune cnn_ws_aux --target_weight 0.1,0.5,1 --aux_weight 0,0.1,0.5,1
    # Adam against SGD, each at its own best rate, then on the test pairs
    python -m report.tune cnn_ws_aux --optimizer adam,sgd --lr 1e-3,3e-3,1e-2,3e-2,0.1 \\
        --per optimizer --test_rounds 10 --out report/results/optimizers.json
"""

import argparse
import itertools
import statistics
import sys
import time

import dlc_practical_prologue as prologue
import train
from models import MODELS
from train import model_settings, setting, setting_type
from utils import (
    available_memory,
    completed,
    environment,
    format_mean_std,
    format_table,
    positive_int,
    progress_line,
    provenance,
    results_path_problem,
    workers_for,
    write_json_atomic,
)

# The grid's axes: training settings (train.DEFAULTS keys), each value read by
# the setting's one rule, as test.py's --set and flags read it.
AXES = ('lr', 'batch_size', 'epochs', 'optimizer', 'target_weight', 'aux_weight', 'weight_decay')
TEST_SEED_OFFSET = 1000  # test rounds use seeds seed+1000...: never a tuning round's


def list_of(value_type):
    """argparse type: comma-separated values, each read by `value_type`, repeats dropped."""
    def parse(text):
        items = [item.strip() for item in text.split(',') if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError('no value given')
        return list(dict.fromkeys(value_type(item) for item in items))
    parse.__name__ = f'list of {value_type.__name__}'
    return parse


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Grid search on validation splits of the training pairs (never the test pairs).')
    parser.add_argument('model', metavar='MODEL', help='a registered model (python test.py --list)')
    for axis in AXES:
        parser.add_argument(f'--{axis}', type=list_of(setting_type(axis)), default=None,
                            metavar='V1,V2,...',
                            help=f"values of {axis} to try (default: the model's own)")
    parser.add_argument('--set', type=setting, action='append', default=[], metavar='KEY=VALUE',
                        help='a training setting held fixed for every point of the grid, '
                             'repeatable (as in test.py; default: the model\'s own)')
    held_out = parser.add_mutually_exclusive_group()
    held_out.add_argument('--validation', type=positive_int, default=200, metavar='N',
                          help='score on the last N training pairs (default: %(default)s; unlike '
                               'test.py, whose default is the test pairs, tuning never scores on '
                               'them)')
    held_out.add_argument('--folds', type=positive_int, default=None, metavar='K',
                          help='score by K-fold cross-validation on the training pairs instead')
    parser.add_argument('--rounds', type=positive_int, default=3,
                        help='data draws per setting (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=100,
                        help='round r uses seed+r (default: %(default)s, not test.py\'s 0: '
                             'tuning rounds draw other pairs than the default run\'s 0-9)')
    parser.add_argument('--per', choices=list(AXES), default=None, metavar='AXIS',
                        help='choose one setting per value of this axis (default: one overall)')
    parser.add_argument('--test_rounds', type=int, default=0, metavar='N',
                        help='then measure each chosen setting on the test pairs of N rounds '
                             f'with seeds seed+{TEST_SEED_OFFSET}... (default: none)')
    parser.add_argument('--data_dir', default=None,
                        help='folder holding mnist/ (default: $PYTORCH_DATA_DIR, else ./data)')
    parser.add_argument('--workers', type=positive_int, default=None,
                        help='processes side by side, one thread each (default: as test.py, one '
                             'per core, at most one per run and as many as the free memory holds)')
    parser.add_argument('--out', default=None, metavar='FILE.json',
                        help='write the grid, every run and the choice to this JSON')
    parser.add_argument('--quiet', action='store_true', help='no progress lines on stderr')
    args = parser.parse_args(argv)
    if args.model not in MODELS:
        parser.error(f'unknown model {args.model!r}; see python test.py --list')
    if args.folds is not None:
        args.validation = None  # its default, 200, gives way to the folds
    try:
        args.held_out, args.splits = train.held_out_sets(args.validation, args.folds)
    except ValueError as error:
        parser.error(str(error))
    if args.test_rounds < 0:
        parser.error('--test_rounds must be 0 or more')
    if args.per is not None and getattr(args, args.per) is None:
        parser.error(f'--per {args.per}: give the values of --{args.per} to choose among')
    if args.out is not None and results_path_problem(args.out):
        parser.error('--out ' + results_path_problem(args.out))
    both = sorted({key for key, _ in args.set} & {axis for axis in AXES if getattr(args, axis)})
    if both:
        parser.error(f'--set {both[0]}=... and --{both[0]} both given: the grid or a fixed value')
    args.fixed = dict(args.set)
    return args


def grid(args):
    """The settings to try: a list of dicts, one value per axis given."""
    given = {axis: getattr(args, axis) for axis in AXES if getattr(args, axis) is not None}
    return [dict(zip(given, values)) for values in itertools.product(*given.values())]


def choose(settings, scores, per=None):
    """Index of the lowest mean validation error, or with `per` a dict
    {value of that axis: index}. Settings whose runs all failed are skipped."""
    def best(indices):
        scored = [i for i in indices if scores[i]]
        return min(scored, key=lambda i: statistics.fmean(scores[i])) if scored else None
    if per is None:
        return best(range(len(settings)))
    values = dict.fromkeys(setting[per] for setting in settings)
    return {value: best([i for i, s in enumerate(settings) if s[per] == value]) for value in values}


def describe(setting):
    return ', '.join(f'{axis} {value}' for axis, value in setting.items()) or "the model's own"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        return run(args, provenance('-m report.tune', argv))
    except KeyboardInterrupt:  # outside a batch of runs (loading, writing): nothing to print
        print('\ninterrupted', file=sys.stderr)
        return 130


def run(args, made_by):
    try:
        train.mnist_splits(args.data_dir)  # here first: a missing MNIST stops the run before it starts
    except prologue.MnistUnavailable as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    settings = grid(args)
    held_out = args.held_out
    config = dict(model=args.model, grid={axis: getattr(args, axis) for axis in AXES},
                  rounds=args.rounds, seed=args.seed, held_out=held_out,
                  fixed=args.fixed, base_settings=model_settings(args.model, args.fixed),
                  environment=environment(), **made_by)
    jobs = [train.make_job(args.model, r, args.seed + r, split, {**args.fixed, **setting},
                     args.data_dir, quiet=args.quiet, setting=i, fold=fold)
            for r in range(args.rounds)
            for fold, split in args.splits
            for i, setting in enumerate(settings)]
    # The tuning runs, then the chosen settings' test runs (held_out 'test'), in one list.
    runs = []
    output = dict(config=config, settings=settings, results=runs, chosen=None)
    try:
        elapsed = collect(jobs, runs, args, output)
    except KeyboardInterrupt:
        print('\ninterrupted: the table below holds the completed runs only', file=sys.stderr)
        print(tuning_table(settings, scores_of(runs, len(settings)), None))
        return 130

    scores = scores_of(runs, len(settings))
    chosen = choose(settings, scores, args.per)
    output['chosen'] = chosen
    print(f'{args.model}: {len(settings)} settings x {args.rounds} rounds, {held_out}, '
          f'seed {args.seed}, {elapsed:.0f} s')
    print(tuning_table(settings, scores, chosen))
    picks = list(chosen.values()) if isinstance(chosen, dict) else [chosen]
    picks = [i for i in picks if i is not None]
    if args.test_rounds and picks:
        test_seed = args.seed + TEST_SEED_OFFSET
        jobs = [train.make_job(args.model, r, test_seed + r, None, {**args.fixed, **settings[i]},
                         args.data_dir, quiet=args.quiet, setting=i)
                for r in range(args.test_rounds)
                for i in picks]
        try:
            collect(jobs, runs, args, output)
        except KeyboardInterrupt:
            print('\ninterrupted: the table below holds the completed test rounds only',
                  file=sys.stderr)
            print(test_table(settings, picks, runs))
            return 130
        print(f'\nthe chosen settings on the test pairs, {args.test_rounds} rounds from seed '
              f'{test_seed}:')
        print(test_table(settings, picks, runs))
    if args.out:
        write_json_atomic(args.out, output)
        print(f'results written to {args.out}')
    return 0


def collect(jobs, runs, args, output):
    """Run `jobs`, appending each result to `runs`, with a progress line and the
    JSON rewritten after each; returns the seconds taken. Ctrl-C passes through."""
    started = time.perf_counter()
    workers, why, warning = workers_for(args.workers, len(jobs), memory=available_memory())
    if warning:
        print(warning, file=sys.stderr)
    if not args.quiet:
        print(f'{len(jobs)} runs on {workers} worker(s) ({why})', file=sys.stderr, flush=True)
    for done, run in enumerate(train.run_jobs(jobs, workers, one_thread=args.workers is None), 1):
        runs.append(run)
        if args.out:  # before the progress line: a reported run is in the file
            write_json_atomic(args.out, output)
        if not args.quiet:
            print(progress_line(run, done, len(jobs), time.perf_counter() - started),
                  file=sys.stderr, flush=True)
    return time.perf_counter() - started


def scores_of(runs, n_settings):
    """The validation errors of each setting's completed tuning runs."""
    scores = [[] for _ in range(n_settings)]
    for run in completed(runs):
        if run['held_out'] != 'test':
            scores[run['tag']['setting']].append(run['held_out_error'])
    return scores


def tuning_table(settings, scores, chosen):
    picks = set(chosen.values()) if isinstance(chosen, dict) else {chosen}
    rows = [[describe(setting), len(scores[i]),
             format_mean_std(scores[i], digits=2) if scores[i] else '-',
             'chosen' if i in picks else '']
            for i, setting in enumerate(settings)]
    header = ['setting', 'runs', 'validation err %', '']
    return format_table(header, rows, '<>><')


def test_table(settings, picks, tests):
    rows = []
    for i in picks:
        runs = [t for t in completed(tests) if t['held_out'] == 'test' and t['tag']['setting'] == i]
        errors = [t['held_out_error'] for t in runs]
        times = [t['train_time_s'] for t in runs]
        rows.append([describe(settings[i]), len(errors),
                     format_mean_std(errors) if errors else '-',
                     format_mean_std(times, digits=2) if times else '-'])
    return format_table(['setting', 'rounds', 'test err %', 'train s/round'], rows, '<>>>')


if __name__ == '__main__':
    sys.exit(main())
