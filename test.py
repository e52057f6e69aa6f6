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
import train
import utils
from models import GROUPS, MODELS, build_model, count_parameters


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(parse_args(argv), utils.provenance('test.py', argv))
    except BrokenPipeError:  # the reader left early (python test.py --list | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1
    except KeyboardInterrupt:  # before any model-round finished: nothing to keep
        print('\ninterrupted', file=sys.stderr)
        return 130


def run(args, made_by):
    """Train every model-round of the command, then print the table; the exit status."""
    if args.list:
        list_models()
        return 0
    jobs = make_jobs(args)
    config = run_config(args, made_by)
    results = []
    if args.resume:
        try:
            results = resumed_results(args.resume, config, made_by)
        except ValueError as error:
            print(f'error: --resume: {error}', file=sys.stderr)
            return 2
    try:  # here first: a missing MNIST, or a round with too few pairs outside --unseen, stops the run
        train.mnist_splits(args.data_dir)
        for seed in {job['seed'] for job in jobs} if args.unseen else ():
            train.draw_pairs(train.mnist_splits(args.data_dir), seed, args.pairs, args.unseen)
    except prologue.MnistUnavailable as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    except ValueError as error:
        print(f'error: --unseen: {error}', file=sys.stderr)
        return 2
    # The default gives each model-round on the CPU one thread, in a worker or here.
    one_thread = args.workers is None and args.device == 'cpu'
    started = time.perf_counter()
    interrupted = collect(jobs, results, config, args, one_thread)
    print_summary(args, config, results, len(jobs), time.perf_counter() - started, one_thread)
    return 130 if interrupted else 0


def make_jobs(args):
    """Every model-round: round r's pairs come from seed S+r, the same for every model."""
    return [train.make_job(name, round_index, args.seed + round_index, split, args.overrides,
                     args.data_dir, args.device, args.curves, args.quiet, args.pairs, args.unseen,
                     fold=None if args.folds is None else fold)
            for round_index in range(args.rounds)
            for name in args.models
            for fold, split in args.splits]


def run_config(args, made_by):
    """What the results file records of the command, beside its results."""
    return dict(models=args.models, rounds=args.rounds, seed=args.seed, device=args.device,
                workers=args.workers, curves=args.curves, pairs=args.pairs,
                held_out=args.held_out, **({'unseen': args.unseen} if args.unseen else {}),
                error_unit='percent of pairs',
                settings={name: train.model_settings(name, args.overrides) for name in args.models},
                environment=utils.environment(), **made_by)


def collect(jobs, results, config, args, one_thread):
    """Train the jobs `results` lacks, appending each result, saved to args.out
    before its progress line; True if Ctrl-C stopped it (the finished ones stay)."""
    done = {utils.run_key(r) for r in results}
    todo = [job for job in jobs if utils.run_key(job) not in done]
    workers, why, warning = utils.workers_for(args.workers, len(todo), args.device, utils.available_memory())
    if warning:
        print(warning, file=sys.stderr)
    config['workers'] = workers
    started = time.perf_counter()
    try:
        if not args.quiet:  # inside the try: a Ctrl-C right after this line still gets the table
            print(f'{len(todo)} model-rounds to train'
                  + (f' ({len(done)} already done)' if done else '')
                  + f' on {workers} worker(s) ({why}); Ctrl-C stops and keeps the finished ones',
                  file=sys.stderr, flush=True)
        for result in train.run_jobs(todo, workers, one_thread):
            results.append(result)
            if args.out:  # before the progress line: a reported model-round is in the file
                utils.write_json_atomic(args.out, dict(config=config, results=results))
            if not args.quiet:
                print(utils.progress_line(result, len(results), len(jobs), time.perf_counter() - started,
                                    todo=len(results) - len(done)),
                      file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print('\ninterrupted: the table below holds the completed rounds only', file=sys.stderr)
        return True
    return False


def print_summary(args, config, results, total, elapsed, one_thread):
    env, workers = config['environment'], config['workers']
    threads = '1 thread each' if workers > 1 or one_thread else f"{env['torch_threads']} threads"
    print(f"{len(results)} model-rounds of {total}, seed {args.seed}, "
          + ('' if args.pairs == train.PAIRS else f'{args.pairs} training pairs, ')
          + f"device {args.device}, "
          f"{workers} worker(s) with {threads}, torch {env['torch']}, "
          f"{elapsed:.0f} s in all")
    held_out = 'test' if args.validation is None and args.folds is None else 'val'
    print(results_table(args.models, results, held_out))
    if args.out:
        print(f'results written to {args.out}')


def results_table(models, results, held_out='test'):
    """Per model: parameters, rounds, train and held-out error (mean ± std over
    rounds, a K-fold round the mean of its folds), digit error, seconds per training."""
    rows = []
    for name in models:
        runs = utils.completed(results, name)
        failed = sum(1 for r in results if r['model'] == name) - len(runs)
        if not runs:
            if failed:
                rows.append([name, '-', f'0 (+{failed} failed)', '-', '-', '-', '-'])
            continue
        digit_errors = round_means(runs, 'held_out_digit_error')
        rounds = len(round_means(runs, 'held_out_error'))
        rows.append([name, f"{runs[0]['params']:,d}",
                     f'{rounds} (+{failed} failed)' if failed else rounds,
                     utils.format_mean_std(round_means(runs, 'train_error')),
                     utils.format_mean_std(round_means(runs, 'held_out_error')),
                     utils.format_mean_std(digit_errors) if digit_errors else '-',
                     utils.format_mean_std((r['train_time_s'] for r in runs), digits=2)])
    header = ['model', 'params', 'rounds', 'train err %', f'{held_out} err %',
              f'{held_out} digit err %', 'train s/round']
    return utils.format_table(header, rows, '<>>>>>>')


def round_means(runs, key):
    """runs[key] averaged per round (over a K-fold round's folds), missing values skipped."""
    by_round = {}
    for run in runs:
        if run.get(key) is not None:
            by_round.setdefault(run['round'], []).append(run[key])
    return [statistics.fmean(values) for values in by_round.values()]


# =====================================================================================
# The machinery: the options and their checks, --list, and --resume.
# =====================================================================================

# The training settings with an option of their own (--set gives any), and their help.
FLAGS = dict(epochs='training epochs', batch_size='pairs per step', lr='learning rate',
             optimizer='adam or sgd', aux_weight='weight of the auxiliary digit losses')


def parse_args(argv=None):
    parser = make_parser()
    args = parser.parse_args(argv)
    flags = {key: getattr(args, key) for key in FLAGS if getattr(args, key) is not None}
    twice = sorted(set(flags) & {key for key, _ in args.set})
    if twice:
        parser.error(f'--set {twice[0]}=... and --{twice[0]} both given: give one')
    args.overrides = {**flags, **dict(args.set)}
    try:
        args.device = utils.choose_device(args.device)
        args.held_out, args.splits = train.held_out_sets(args.validation, args.folds, args.pairs)
    except ValueError as error:
        parser.error(str(error))
    if args.device == 'cuda' and (args.workers or 1) > 1:
        parser.error('--workers above 1 is for the CPU; on cuda one process uses the GPU')
    if args.resume is not None:
        if args.out is not None and os.path.abspath(args.out) != os.path.abspath(args.resume):
            parser.error('--resume writes into the file it resumes; drop --out or give the same file')
        if not os.path.isfile(args.resume):
            parser.error(f'--resume {args.resume!r}: no such file')
        args.out = args.resume
    if args.out is not None and utils.results_path_problem(args.out):
        parser.error('--out ' + utils.results_path_problem(args.out))
    return args


def make_parser():
    parser = argparse.ArgumentParser(
        description='Train and compare digit-pair models over several rounds.')
    what = parser.add_argument_group('what to run')
    what.add_argument('--models', type=model_list, default=GROUPS['main'],
                      help='comma-separated model or group names (default: main, the ten models '
                           'of the comparison; --list shows every model and group)')
    what.add_argument('--rounds', type=utils.positive_int, default=10,
                      help='rounds per model; each draws new data and weights (default: %(default)s)')
    what.add_argument('--seed', type=int, default=0,
                      help='round r uses seed+r for data and initialisation (default: %(default)s)')
    low, high = train.TRAIN_PAIRS_RANGE
    what.add_argument('--pairs', type=utils.int_between(low, high), default=train.PAIRS, metavar='N',
                      help=f'training pairs per round, {low} to {high:,}; a round\'s smaller sets are '
                           'the first pairs of its larger ones, and its test pairs the same '
                           '(default: %(default)s)')
    what.add_argument('--unseen', type=train.unseen_cells, default=None, metavar='A:B[,A:B...]',
                      help='keep these (first digit, second digit) combinations out of the '
                           'training pairs, * for any digit: 7:* (7 never first), 3:5,5:3 (never '
                           'together); the test pairs stay the same (default: none)')
    what.add_argument('--list', action='store_true',
                      help='list the models with parameter counts and descriptions, and exit')
    training = parser.add_argument_group(
        'training settings', "each defaults to the model's own (most take train.DEFAULTS); "
        'a bad value is refused in the same words by its flag and by --set')
    for key, text in FLAGS.items():
        training.add_argument(f'--{key}', type=train.setting_type(key), default=None,
                              help=f'{text} (default: {train.DEFAULTS[key]})')
    training.add_argument('--set', type=train.setting, action='append', default=[], metavar='KEY=VALUE',
                          help='any training setting, repeatable; VALUE is a number, a word, None '
                               "or a dict, e.g. --set schedule=onecycle --set \"augment={'shift': 2}\" "
                               f'(keys: {", ".join(train.DEFAULTS)})')
    held_out = parser.add_argument_group(
        'held-out pairs', 'for choices: the test pairs are then never used (default: the test '
        'pairs)').add_mutually_exclusive_group()
    held_out.add_argument('--validation', type=utils.positive_int, default=None, metavar='N',
                          help='score on the last N training pairs, which do not train')
    held_out.add_argument('--folds', type=utils.positive_int, default=None, metavar='K',
                          help='K-fold cross-validation of the training pairs: each round trains '
                               'every model K times and reports the mean over the folds')
    machine = parser.add_argument_group('where it runs')
    machine.add_argument('--device', choices=('cpu', 'cuda', 'auto'), default='cpu',
                         help='auto = cuda when available (default: %(default)s)')
    machine.add_argument('--workers', type=utils.positive_int, default=None,
                         help='processes training model-rounds side by side, one thread each; 1: '
                              'here, with torch\'s threads (default: one per core, at most one per '
                              'model-round and one per GB of free memory; 1 on cuda)')
    machine.add_argument('--data_dir', default=None,
                         help='folder holding mnist/ (default: $PYTORCH_DATA_DIR, else ./data)')
    output = parser.add_argument_group('results and progress')
    output.add_argument('--out', default=None, metavar='FILE.json',
                        help='write the config and every model-round\'s result to this JSON, after '
                             'each model-round (default: none)')
    output.add_argument('--resume', default=None, metavar='FILE.json',
                        help='go on with an interrupted run\'s file: train only the model-rounds it '
                             'lacks; refused if its config differs from this command\'s')
    output.add_argument('--curves', action='store_true',
                        help='also measure the test loss and error after every epoch (a quarter '
                             'more time; default: at the end)')
    output.add_argument('--quiet', action='store_true',
                        help='no progress on stderr (default: a line per model-round with the time '
                             'elapsed and left; on a terminal, an epoch counter)')
    return parser


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


def list_models():
    """Every model under its group (`reports` is r000 ... r004 together)."""
    width = max(map(len, MODELS))
    for group, members in GROUPS.items():
        if group == 'reports':
            continue
        print(f'{group} ({len(members)} models)')
        for name in members:
            print(f'  {name:{width}s} {count_parameters(build_model(name)):>9,d}  '
                  f'{MODELS[name].description}')
    print(f"reports ({len(GROUPS['reports'])} models): r000 ... r004 together")


# What must agree between a results file and the command that resumes it.
RESUME_KEYS = ('models', 'rounds', 'seed', 'device', 'curves', 'pairs', 'held_out', 'unseen',
               'settings')


def resumed_results(path, config, made_by):
    """The results of `path` if its config matches `config` (else ValueError);
    `config` keeps the file's first command and code and adds `made_by` to 'resumed'."""
    saved = utils.load_results(path)
    saved_config = saved['config']
    differ = [key for key in RESUME_KEYS if saved_config.get(key) != config.get(key)]
    if differ:
        raise ValueError(f'{path} was made with other settings ({", ".join(differ)} differ); '
                         'resume with the same command, or start a new file with --out')
    first = {key: saved_config[key] for key in ('command', 'commit', 'resumed')
             if key in saved_config}
    config.update(first, resumed=first.get('resumed', []) + [made_by])
    return saved['results']


if __name__ == '__main__':
    sys.exit(main())
