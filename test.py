"""Compare the architectures on the MNIST digit-pair task and print the table.

Every model is trained for several rounds; round r draws new pairs and a new
initialisation from seed S+r, and every model sees the same pairs in a round,
so differences between models are paired. The table gives train and test error
(% of pairs, mean ± std over rounds), the test error of the auxiliary digit
outputs (% of digit images) and training seconds per round.

Examples:
    python test.py                                   # 10 models x 10 rounds on CPU
    python test.py --models cnn_ws_aux,cnn_2ch --rounds 3 --out results.json
    python test.py --list
    # model choices without the test pairs: 5-fold cross-validation, 2 rounds
    python test.py --models best,best_course_tower --folds 5 --rounds 2 --seed 300
"""

import argparse
import os
import statistics
import sys
import time

import dlc_practical_prologue as prologue
from models import GROUPS, MODELS, build_model, count_parameters
from train import (
    DEFAULTS,
    OPTIMIZERS,
    PAIRS,
    TRAIN_PAIRS_RANGE,
    held_out_description,
    held_out_problem,
    held_out_sets,
    make_job,
    mnist_splits,
    model_settings,
    run_jobs,
    setting,
)
from utils import (
    choose_device,
    completed,
    environment,
    format_mean_std,
    format_table,
    int_between,
    load_results,
    non_negative_float,
    positive_float,
    positive_int,
    progress_line,
    provenance,
    results_path_problem,
    run_key,
    workers_for,
    write_json_atomic,
)

# The training settings with an option of their own; --set gives any.
FLAG_SETTINGS = ('epochs', 'batch_size', 'lr', 'optimizer', 'aux_weight')


def model_list(text):
    """argparse type: comma-separated model names or group names (main, reports, r000...)."""
    names = [name.strip() for name in text.split(',') if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError('no model named')
    unknown = [name for name in names if name not in MODELS and name not in GROUPS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f'unknown model {", ".join(map(repr, unknown))}; known groups: {", ".join(GROUPS)}; '
            f'known models: {", ".join(MODELS)}')
    expanded = [member for name in names for member in GROUPS.get(name, [name])]
    return list(dict.fromkeys(expanded))  # drop repeats, keep order


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Train and compare digit-pair models over several rounds.')
    parser.add_argument('--models', type=model_list, default=GROUPS['main'],
                        help='comma-separated model or group names (see --list). Groups: main '
                             '(the default: ' + ','.join(GROUPS['main']) + '), reports (every '
                             'report\'s systems), r000 ... r004 (one report\'s), heads (the head-input '
                             'ablation), ablation (best and its ablation), records (the '
                             'time-to-accuracy records beside cnn_2ch and best), '
                             'course_budget_ablation and fast_ablation (a record and its ablation)')
    parser.add_argument('--rounds', type=positive_int, default=10,
                        help='rounds per model; each draws new data and weights (default: %(default)s)')
    parser.add_argument('--epochs', type=positive_int, default=None,
                        help=f'training epochs (default: each model\'s own, {DEFAULTS["epochs"]})')
    parser.add_argument('--batch_size', type=positive_int, default=None,
                        help=f'pairs per step (default: each model\'s own, {DEFAULTS["batch_size"]})')
    parser.add_argument('--lr', type=positive_float, default=None,
                        help=f'learning rate (default: each model\'s own, {DEFAULTS["lr"]})')
    parser.add_argument('--optimizer', choices=OPTIMIZERS, default=None,
                        help=f'(default: each model\'s own, {DEFAULTS["optimizer"]})')
    parser.add_argument('--aux_weight', type=non_negative_float, default=None,
                        help=f'weight of the auxiliary digit losses '
                             f'(default: each model\'s own, {DEFAULTS["aux_weight"]})')
    parser.add_argument('--set', type=setting, action='append', default=[], metavar='KEY=VALUE',
                        help='any training setting of train.DEFAULTS, repeatable; VALUE is a '
                             'number, a word, None or a dict, e.g. --set weight_decay=0.05 '
                             "--set schedule=onecycle --set \"augment={'shift': 2}\" "
                             f'(keys: {", ".join(DEFAULTS)}; default: each model\'s own)')
    parser.add_argument('--seed', type=int, default=0,
                        help='base seed: round r uses seed+r for data and initialisation '
                             '(default: %(default)s)')
    parser.add_argument('--pairs', type=int_between(*TRAIN_PAIRS_RANGE), default=PAIRS, metavar='N',
                        help=f'training pairs per round, {TRAIN_PAIRS_RANGE[0]} to '
                             f'{TRAIN_PAIRS_RANGE[1]:,}; a round\'s smaller sets are the first '
                             'pairs of its larger ones, and the 1000 test pairs are the same '
                             'for every N (default: %(default)s)')
    parser.add_argument('--device', choices=('cpu', 'cuda', 'auto'), default='cpu',
                        help='where to train; auto = cuda when available (default: %(default)s)')
    parser.add_argument('--data_dir', default=None,
                        help='folder holding mnist/ (default: $PYTORCH_DATA_DIR, else ./data)')
    parser.add_argument('--out', default=None, metavar='FILE.json',
                        help='write config and per-round results (with histories) to this JSON, '
                             'rewritten after every model-round (default: none)')
    parser.add_argument('--resume', default=None, metavar='FILE.json',
                        help='continue an interrupted run from its results file: skip the '
                             'model-rounds it holds and write the rest into it. Refused when '
                             'its config differs from this command\'s (default: off)')
    held_out = parser.add_mutually_exclusive_group()
    held_out.add_argument('--validation', type=positive_int, default=None, metavar='N',
                          help='hold out the last N of the training pairs and report error on '
                               'them instead of on the test pairs, which are then never used: '
                               'for model and hyper-parameter choices (default: off)')
    held_out.add_argument('--folds', type=positive_int, default=None, metavar='K',
                          help='K-fold cross-validation of the training pairs instead: each '
                               'round trains every model K times, each fold held out once, and '
                               'reports the mean over the folds; the test pairs are never used '
                               '(default: off)')
    parser.add_argument('--workers', type=positive_int, default=None,
                        help='processes training model-rounds side by side, one thread each; '
                             '1 trains in this process with torch\'s default threads '
                             '(default: one per core, at most one per model-round and as many as '
                             'the free memory holds at about 1 GB each; 1 on cuda)')
    parser.add_argument('--curves', action='store_true',
                        help='also measure test loss and error after every epoch, for learning '
                             'curves (about a quarter more time; default: train history per '
                             'epoch, test error at the end)')
    parser.add_argument('--list', action='store_true',
                        help='list the models with parameter counts and descriptions, and exit')
    parser.add_argument('--quiet', action='store_true',
                        help='no progress on stderr (default: one line per model-round with the '
                             'time elapsed and left, and on a terminal an epoch counter)')
    args = parser.parse_args(argv)
    flags = {key: getattr(args, key) for key in FLAG_SETTINGS if getattr(args, key) is not None}
    twice = sorted(set(flags) & {key for key, _ in args.set})
    if twice:
        parser.error(f'--set {twice[0]}=... and --{twice[0]} both given: give one')
    args.overrides = {**flags, **dict(args.set)}
    try:
        args.device = choose_device(args.device)
    except ValueError as error:
        parser.error(str(error))
    if held_out_problem(args.validation, args.folds, args.pairs):
        parser.error(held_out_problem(args.validation, args.folds, args.pairs))
    if args.device == 'cuda' and (args.workers or 1) > 1:
        parser.error('--workers above 1 is for the CPU; on cuda one process uses the GPU')
    if args.resume is not None:
        if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
            parser.error('--resume writes into the file it resumes; drop --out or give the same file')
        if not os.path.isfile(args.resume):
            parser.error(f'--resume {args.resume!r}: no such file')
        args.out = args.resume
    if args.out is not None and results_path_problem(args.out):
        parser.error('--out ' + results_path_problem(args.out))
    return args


def list_models():
    """Every model under its group, the project's first (a model of two groups
    shows in both); `reports` is the union of r000 ... r004."""
    width = max(map(len, MODELS))
    for group, members in GROUPS.items():
        if group == 'reports':
            continue
        print(f'{group} ({len(members)} models)')
        for name in members:
            print(f'  {name:{width}s} {count_parameters(build_model(name)):>9,d}  '
                  f'{MODELS[name].description}')
    print(f"reports ({len(GROUPS['reports'])} models): r000 ... r004 together")


def round_means(runs, key):
    """runs[key] averaged per round (over the folds of K-fold runs; one value
    per round otherwise), skipping missing values."""
    by_round = {}
    for run in runs:
        if run.get(key) is not None:
            by_round.setdefault(run['round'], []).append(run[key])
    return [statistics.fmean(values) for values in by_round.values()]


def results_table(models, results, held_out='test'):
    """Per model: parameters, rounds, train and held-out error (mean ± std over
    rounds; a K-fold round counts as the mean of its folds), the digit error of
    the auxiliary outputs where the model has them, seconds per training."""
    rows = []
    for name in models:
        runs = completed(results, name)
        failed = sum(1 for r in results if r['model'] == name) - len(runs)
        if not runs:
            if failed:
                rows.append([name, '-', f'0 (+{failed} failed)', '-', '-', '-', '-'])
            continue
        digit_errors = round_means(runs, 'held_out_digit_error')
        rounds = len(round_means(runs, 'held_out_error'))
        rows.append([name, f"{runs[0]['params']:,d}",
                     f'{rounds} (+{failed} failed)' if failed else rounds,
                     format_mean_std(round_means(runs, 'train_error')),
                     format_mean_std(round_means(runs, 'held_out_error')),
                     format_mean_std(digit_errors) if digit_errors else '-',
                     format_mean_std((r['train_time_s'] for r in runs), digits=2)])
    header = ['model', 'params', 'rounds', 'train err %', f'{held_out} err %',
              f'{held_out} digit err %', 'train s/round']
    return format_table(header, rows, '<>>>>>>')


# What must agree between a results file and the command that resumes it.
RESUME_KEYS = ('models', 'rounds', 'seed', 'device', 'curves', 'pairs', 'held_out', 'settings')


def load_resumable(path, config):
    """The results of `path`, if its config matches `config`; else ValueError saying why."""
    saved = load_results(path)
    saved_config, results = saved['config'], saved['results']
    done = {run_key(r) for r in results}
    differ = [key for key in RESUME_KEYS if saved_config.get(key) != config[key]]
    if differ:
        raise ValueError(f'{path} was made with other settings ({", ".join(differ)} differ); '
                         'resume with the same command, or start a new file with --out')
    first = {key: saved_config[key] for key in ('command', 'commit', 'resumed')
             if key in saved_config}
    return results, done, first


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(parse_args(argv), provenance('test.py', argv))
    except BrokenPipeError:  # the reader left early (python test.py --list | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1
    except KeyboardInterrupt:  # before any model-round finished: nothing to keep
        print('\ninterrupted', file=sys.stderr)
        return 130


def run(args, made_by):
    if args.list:
        list_models()
        return 0
    overrides = args.overrides
    # Round r's pairs are drawn from seed S+r, the same for every model.
    jobs = [make_job(name, round_index, args.seed + round_index, split, overrides, args.data_dir,
                     args.device, args.curves, args.quiet, args.pairs,
                     fold=None if args.folds is None else fold)
            for round_index in range(args.rounds)
            for name in args.models
            for fold, split in held_out_sets(args.validation, args.folds)]
    config = dict(models=args.models, rounds=args.rounds, seed=args.seed, device=args.device,
                  workers=args.workers, curves=args.curves, pairs=args.pairs,
                  held_out=held_out_description(args.validation, args.folds),
                  error_unit='percent of pairs',
                  settings={name: model_settings(name, overrides) for name in args.models},
                  environment=environment(), **made_by)
    results, done = [], set()
    if args.resume:
        try:
            results, done, first = load_resumable(args.resume, config)
            # The command and code that began the file stay; each resuming one is added.
            config.update(first, resumed=first.get('resumed', []) + [made_by])
        except ValueError as error:
            print(f'error: --resume: {error}', file=sys.stderr)
            return 2
    total = len(jobs)
    jobs = [job for job in jobs if run_key(job) not in done]
    workers, why, warning = workers_for(args.workers, len(jobs), args.device)
    if warning:
        print(warning, file=sys.stderr)
    config['workers'] = workers
    try:
        mnist_splits(args.data_dir)  # here first: a missing MNIST stops the run before it starts
    except prologue.MnistUnavailable as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    started = time.perf_counter()
    interrupted = False
    # The default gives each model-round on the CPU one thread, in a worker or here.
    one_thread = args.workers is None and args.device == 'cpu'
    try:
        if not args.quiet:  # inside the try: a Ctrl-C right after this line still gets the table
            print(f'{len(jobs)} model-rounds to train'
                  + (f' ({len(done)} already done)' if done else '')
                  + f' on {workers} worker(s) ({why}); Ctrl-C stops and keeps the finished ones',
                  file=sys.stderr, flush=True)
        for result in run_jobs(jobs, workers, one_thread):
            results.append(result)
            if args.out:  # before the progress line: a reported model-round is in the file
                write_json_atomic(args.out, dict(config=config, results=results))
            if not args.quiet:
                print(progress_line(result, len(results), total, time.perf_counter() - started,
                                    todo=len(results) - len(done)),
                      file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        interrupted = True
        print('\ninterrupted: the table below holds the completed rounds only', file=sys.stderr)

    elapsed = time.perf_counter() - started
    env = config['environment']
    threads = '1 thread each' if workers > 1 or one_thread else f"{env['torch_threads']} threads"
    print(f"{len(results)} model-rounds of {total}, seed {args.seed}, "
          + ('' if args.pairs == PAIRS else f'{args.pairs} training pairs, ')
          + f"device {args.device}, "
          f"{workers} worker(s) with {threads}, torch {env['torch']}, "
          f"{elapsed:.0f} s in all")
    held_out = 'test' if args.validation is None and args.folds is None else 'val'
    print(results_table(args.models, results, held_out))
    if args.out:
        print(f'results written to {args.out}')
    return 130 if interrupted else 0


if __name__ == '__main__':
    sys.exit(main())
