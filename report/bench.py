"""Speed benchmark: the reports' training loop against this project's, on one thread.

Both train the course's reference convnet (report 002's model 1, `cnn_2ch`,
70,906 parameters) for 25 epochs at batch 100 with Adam on the same pairs:

  reference  the loop as the reports write it: a DataLoader over a
             TensorDataset with shuffle, `.item()` on every batch's loss, and
             train and test evaluation (in batches of 100) after every epoch
  project    train.run_once as the default `python test.py` runs it: tensors
             indexed directly, channels-last convolutions, no per-batch host
             sync, no evaluation during training; timed from outside, so the
             time includes building the model and the final train and test
             evaluation

Each is run `--repeats` times, alternating, on seeds S, S+1, ... (same pairs
and initial weights for both); the medians are compared. The achieved GFLOP/s
are counted with torch's FlopCounterMode (torch 2.1 and newer) and set
against this core's measured float32 matmul rate, the ceiling. Then every model of the default suite trains
one round, for the time per model-round. With --records, the time-to-accuracy
records train beside cnn_2ch and best, and their seconds are given as ratios.

Example:
    PYTORCH_DATA_DIR=../shared/data python -m report.bench            # table
    PYTORCH_DATA_DIR=../shared/data python -m report.bench --json     # + one JSON line
    PYTORCH_DATA_DIR=../shared/data python -m report.bench --variants --no_suite --repeats 1
    PYTORCH_DATA_DIR=../shared/data python -m report.bench --records --no_suite --repeats 3
"""

import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

try:  # torch 2.1 and newer; without it the GFLOP/s columns stay empty
    from torch.utils.flop_counter import FlopCounterMode
except ImportError:
    FlopCounterMode = None

import dlc_practical_prologue as prologue
from models import GROUPS, build_model
from report.plots import seconds_and_errors, time_to_accuracy_table
from train import DEFAULTS, draw_pairs, make_optimizer, model_settings, pair_loss, run_once, warm_up
from utils import environment, format_table, positive_int

BENCH_MODEL = 'cnn_2ch'


class ReferenceNet(nn.Module):
    """Report 002's model 1, written as the reports write their models."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.fc1 = nn.Linear(256, 200)
        self.fc2 = nn.Linear(200, 2)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), kernel_size=2))
        x = F.relu(F.max_pool2d(self.conv2(x), kernel_size=2))
        x = F.relu(self.fc1(x.view(-1, 256)))
        return self.fc2(x)


def reference_errors(model, loader, criterion):
    """Loss and error % over a DataLoader, batch by batch, as the reports do."""
    model.eval()
    total_loss, wrong, seen = 0.0, 0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            total_loss += criterion(outputs, targets).item()
            wrong += (outputs.argmax(1) != targets).sum().item()
            seen += targets.size(0)
    return total_loss / len(loader), 100.0 * wrong / seen


def reference_run(data, seed, epochs, batch_size, lr):
    """(training seconds, final test error %) of the reports' loop."""
    torch.manual_seed(seed)
    model = ReferenceNet()
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    train_loader = DataLoader(TensorDataset(data.train_input, data.train_target),
                              batch_size=batch_size, shuffle=True)
    test_loader = DataLoader(TensorDataset(data.test_input, data.test_target),
                             batch_size=batch_size)
    history = []
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        running_loss = 0.0
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
        history.append((running_loss / len(train_loader),
                        reference_errors(model, train_loader, criterion),
                        reference_errors(model, test_loader, criterion)))
    elapsed = time.perf_counter() - start
    return elapsed, history[-1][2][1]


def timed_run_once(name, pairs, seed, settings):
    """(seconds, test error %) of one model-round as the default run trains and
    evaluates it (no curves), after an untimed warm-up of the model."""
    warm_up(name, pairs.normalised(), model_settings(name, settings), 'cpu')
    start = time.perf_counter()
    result = run_once(name, pairs, seed, settings, curves=False)
    return time.perf_counter() - start, result['held_out_error']


def records_table(mnist, seed, repeats):
    """The time-to-accuracy records beside cnn_2ch (the course's 2-second
    reference) and best, `repeats` rounds each on seeds seed, seed+1, ...
    (the models alternate within a round): plots.time_to_accuracy_table of
    the runs (seconds = training + predicting the 1000 test pairs, median,
    and as ratios to cnn_2ch's and best's). Returns (table, {model: seconds})."""
    runs = []
    for i in range(repeats):
        pairs = draw_pairs(mnist, seed + i)
        for name in GROUPS['records']:  # run_once warms each model up before its timer
            runs.append(dict(run_once(name, pairs, seed + i, curves=False), round=i))
            seconds = runs[-1]['train_time_s'] + runs[-1]['eval_time_s']
            print(f'records, round {i + 1}/{repeats}: {name} {seconds:.2f} s', file=sys.stderr, flush=True)
    seconds = {name: point[0] for name, point in seconds_and_errors(runs, GROUPS['records']).items()}
    return time_to_accuracy_table(runs, GROUPS['records']), seconds


def matmul_ceiling(size=1024, repeats=7):
    """Median float32 matmul rate of this thread, in GFLOP/s."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        rates.append(10 * 2 * size ** 3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)


def training_flops(name, data, epochs, batch_size):
    """Floating-point operations of forward + backward over `epochs` epochs
    (None where this torch has no FlopCounterMode)."""
    if FlopCounterMode is None:
        return None
    model = build_model(name)
    batch = slice(0, batch_size)
    counter = FlopCounterMode(display=False)
    with counter:
        outputs = model(data.train_input[batch])
        pair_loss(model, outputs, data.train_target[batch], data.train_classes[batch],
                  1.0).backward()
    steps = epochs * -(-data.train_input.size(0) // batch_size)
    return counter.get_total_flops() * steps


def gflops_summary(flops, reference_s, project_s):
    """The JSON summary's FLOP fields (None where FLOPs were not counted)."""
    if flops is None:
        return dict(gflop=None, gflops=None, reference_gflops=None)
    return dict(gflop=flops / 1e9, gflops=flops / project_s / 1e9,
                reference_gflops=flops / reference_s / 1e9)


def step_time(name, data, channels_last=True, onednn=True, steps=60, batch_size=100):
    """Median milliseconds of one training step (forward, backward, Adam) of `name`."""
    torch.backends.mkldnn.enabled = onednn
    try:
        model = build_model(name)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer = make_optimizer('adam', model.parameters(), lr=1e-3)
        times = []
        for step in range(10 + steps):
            batch = slice(step * batch_size % 1000, step * batch_size % 1000 + batch_size)
            start = time.perf_counter()
            outputs = model(data.train_input[batch])
            loss = pair_loss(model, outputs, data.train_target[batch], data.train_classes[batch], 1.0)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times[10:])
    finally:
        torch.backends.mkldnn.enabled = True


def variants_table(data):
    """Step time of the kept memory layout (channels-last) against NCHW, with and
    without oneDNN. The other alternatives measured (convolutions as matmuls over
    unfolded patches, torch.compile, ten rounds at once with torch.func.vmap) were
    rejected and their code removed: report/results/bench_variants.txt holds their
    timings, made by this file at commit c66c505 (EXPERIMENTS.md, "Performance")."""
    rows = []
    for name in ('cnn_2ch', 'cnn_ws_aux', 'mlp_ws_aux'):
        kept = step_time(name, data)
        others = [step_time(name, data, channels_last=False),
                  step_time(name, data, channels_last=False, onednn=False)]
        rows.append([name, f'{kept:.2f}'] + [f'{t:.2f} ({t / kept:.2f}x)' for t in others])
    header = ['model', 'channels-last (kept)', 'NCHW', 'NCHW, no oneDNN']
    return format_table(header, rows, '<>>>')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Time the reports\' training loop against ours.')
    parser.add_argument('--repeats', type=positive_int, default=5,
                        help='runs of each loop; medians are compared (default: %(default)s)')
    parser.add_argument('--epochs', type=positive_int, default=DEFAULTS['epochs'],
                        help='(default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0, help='(default: %(default)s)')
    parser.add_argument('--data_dir', default=None,
                        help='folder holding mnist/ (default: $PYTORCH_DATA_DIR, else ./data)')
    parser.add_argument('--no_suite', action='store_true',
                        help='skip the per-model timing of the default suite')
    parser.add_argument('--variants', action='store_true',
                        help='also time one training step (ms, median) of the kept memory '
                             'layout, channels-last, against NCHW with and without oneDNN')
    parser.add_argument('--records', action='store_true',
                        help="also time the time-to-accuracy records beside cnn_2ch and best, "
                             '--repeats rounds each (about 2 minutes per repeat)')
    parser.add_argument('--json', action='store_true',
                        help='print one JSON object with the results on the last line')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    try:
        mnist = prologue.load_mnist_splits(args.data_dir, torch.uint8)
    except prologue.MnistUnavailable as error:
        print(f'error: {error}', file=sys.stderr)
        return 1

    settings = dict(epochs=args.epochs)
    ceiling = matmul_ceiling()
    reference, project = [], []
    for i in range(args.repeats):
        seed = args.seed + i
        pairs = draw_pairs(mnist, seed)
        normalised = pairs.normalised()
        if i == 0:  # untimed warm-up of the reference, as run_once warms up its own
            reference_run(normalised, seed, 1, DEFAULTS['batch_size'], DEFAULTS['lr'])
        reference.append(reference_run(normalised, seed, args.epochs, DEFAULTS['batch_size'],
                                       DEFAULTS['lr']))
        project.append(timed_run_once(BENCH_MODEL, pairs, seed, settings))
        print(f'repeat {i + 1}/{args.repeats}: reference {reference[-1][0]:.2f} s, '
              f'project {project[-1][0]:.2f} s', file=sys.stderr, flush=True)

    reference_s = statistics.median(t for t, _ in reference)
    project_s = statistics.median(t for t, _ in project)
    flops = training_flops(BENCH_MODEL, draw_pairs(mnist, args.seed).normalised(),
                           args.epochs, DEFAULTS['batch_size'])
    samples = args.epochs * 1000
    rows = []
    for label, seconds, runs in (('reference loop (DataLoader, .item(), eval every epoch)',
                                  reference_s, reference),
                                 ('project (train.run_once, as test.py runs it)',
                                  project_s, project)):
        errors = [e for _, e in runs]
        rates = ['-', '-'] if flops is None else [f'{flops / seconds / 1e9:.1f}',
                                                  f'{100 * flops / seconds / 1e9 / ceiling:.0f}%']
        rows.append([label, f'{seconds:.2f}', f'{samples / seconds:,.0f}', *rates,
                     f'{statistics.fmean(errors):.1f}'])
    env = environment()
    print(f'{BENCH_MODEL}, {args.epochs} epochs, batch {DEFAULTS["batch_size"]}, Adam, 1 thread, '
          f'medians of {args.repeats}; torch {env["torch"]}, {env["machine"]}; '
          + ('FLOPs not counted (torch.utils.flop_counter needs torch 2.1)' if flops is None
             else f'training = {flops / 1e9:.1f} GFLOP') + f'; matmul ceiling {ceiling:.1f} GFLOP/s')
    print(format_table(['loop', 'seconds', 'samples/s', 'GFLOP/s', 'of ceiling', 'test err %'],
                       rows, '<>>>>>'))
    speedup = reference_s / project_s
    print(f'speedup: {speedup:.2f}x')

    summary = dict(model=BENCH_MODEL, epochs=args.epochs, repeats=args.repeats, threads=1,
                   reference_s=reference_s, project_s=project_s, speedup=speedup,
                   **gflops_summary(flops, reference_s, project_s), ceiling_gflops=ceiling,
                   reference_times_s=[t for t, _ in reference], project_times_s=[t for t, _ in project],
                   reference_test_error=[e for _, e in reference],
                   project_test_error=[e for _, e in project], environment=env)
    if not args.no_suite:
        pairs = draw_pairs(mnist, args.seed)
        suite = {name: timed_run_once(name, pairs, args.seed, settings)[0]
                 for name in GROUPS['main']}
        print(format_table(['model', 's per round (1 thread)'],
                           [[name, f'{s:.2f}'] for name, s in suite.items()], '<>'))
        per_round = statistics.fmean(suite.values())
        print(f'default suite: {sum(suite.values()):.1f} s per round on one thread, '
              f'{per_round:.2f} s per model-round')
        summary.update(suite_s=suite, suite_s_per_model_round=per_round)
    if args.variants:
        print('one training step, batch 100, 1 thread, ms (median of 60):')
        print(variants_table(draw_pairs(mnist, args.seed).normalised()))
    if args.records:
        table, summary['records'] = records_table(mnist, args.seed, args.repeats)
        print(f'time-to-accuracy records, 1 thread, training + predicting the test pairs, '
              f'medians of {args.repeats} rounds:')
        print(table)
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
