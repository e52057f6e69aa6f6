"""Rounds of training, shared by test.py, tune.py and bench.py.

A round draws its own 1000 training and 1000 test pairs, and the weight
initialisation, from one seed; every model and every setting sees the same
pairs in a round, so differences between them are paired. Model-rounds run
side by side in worker processes (one thread each; by default one per core,
as many as the memory holds), which this process sends the pairs, and
progress goes to stderr with the elapsed and the estimated remaining time.

Example:
    python -c "import rounds; print(rounds.PAIRS)"
"""

import multiprocessing
import os
import pickle
import signal
import sys

import torch

import dlc_practical_prologue as prologue
from train import PairSets, TrainingDiverged, run_once
from utils import available_memory

PAIRS = 1000  # training pairs and test pairs per round, as the project fixes


def draw_pairs(mnist, seed):
    """Round data: PAIRS train pairs and PAIRS test pairs drawn with `seed`
    from MNIST's two splits (see round_pairs for a held-out set)."""
    generator = torch.Generator().manual_seed(seed)
    (train_images, train_labels), (test_images, test_labels) = mnist
    return PairSets(*prologue.mnist_to_pairs(PAIRS, train_images, train_labels, generator),
                    *prologue.mnist_to_pairs(PAIRS, test_images, test_labels, generator))


_mnist = {}


def mnist_splits(data_dir):
    """MNIST's two splits, loaded (and checked) once per process, as uint8: a
    quarter of float32's memory; a round's pairs become float32 as it draws them."""
    if data_dir not in _mnist:
        _mnist[data_dir] = prologue.load_mnist_splits(data_dir, torch.uint8)
    return _mnist[data_dir]


# Peak resident memory of one worker process, with a margin: in the default
# run a worker peaks at 0.72 GB (torch itself 0.52 GB, and 0.16 GB more once
# the first optimizer imports torch._dynamo, in torch 2.14; EXPERIMENTS.md).
WORKER_MEMORY = 1.0e9
# Workers started where the platform does not say how much memory is free.
WORKERS_WITHOUT_MEMORY_FIGURE = 4


def memory_fits(memory):
    """How many workers `memory` bytes hold (None: the platform does not say)."""
    if memory is None:
        return WORKERS_WITHOUT_MEMORY_FIGURE
    return max(1, int(memory // WORKER_MEMORY))


def default_workers(jobs, device='cpu', memory=None):
    """(workers, why) for a run of `jobs` model-rounds with `memory` bytes
    available: one per core, but no more than there are model-rounds, nor than
    the memory holds at WORKER_MEMORY each; one on cuda, where one process
    drives the GPU."""
    if device != 'cpu':
        return 1, f'one process drives {device}'
    cores, fits = os.cpu_count() or 1, memory_fits(memory)
    workers = max(1, min(cores, jobs, fits))
    if workers == cores:
        return workers, 'one per core'
    if workers == jobs:
        return workers, f'one per model-round, fewer than the {cores} cores'
    free = 'memory unknown' if memory is None else f'{memory / 1e9:.1f} GB of memory available'
    return workers, f'{free}: room for {fits} at up to {WORKER_MEMORY / 1e9:.1f} GB each'


def workers_warning(workers, memory=None):
    """A warning when `workers` (as a user asked) may not fit in `memory` bytes, else None."""
    if memory is None or workers <= memory_fits(memory):
        return None
    return (f'warning: --workers {workers} may not fit in memory: each takes up to '
            f'{WORKER_MEMORY / 1e9:.1f} GB, and {memory / 1e9:.1f} GB is available')


def workers_for(requested, jobs, device='cpu'):
    """(workers, why, warning) for a run of `jobs` model-rounds: `requested`
    (--workers) as asked, with a warning when it may not fit in the memory
    available (else None), or by default default_workers."""
    memory = available_memory()
    if requested is None:
        return (*default_workers(jobs, device, memory), None)
    return requested, 'as asked', workers_warning(requested, memory)


def round_pairs(data_dir, seed, held_out=None):
    """The pairs of the round with `seed`. held_out: None (the test pairs),
    ('validation', N) for the last N training pairs, or ('fold', k, K) for
    fold k of K of the training pairs."""
    pairs = draw_pairs(mnist_splits(data_dir), seed)
    if held_out is None:
        return pairs
    kind, *values = held_out
    if kind == 'validation':
        return pairs.validation_split(*values)
    if kind == 'fold':
        return pairs.fold_split(*values)
    raise ValueError(f'unknown held-out set {held_out!r}')


def held_out_sets(validation=None, folds=None):
    """[(fold, held_out)] of a round, for round_pairs: the test pairs (fold
    None), the last `validation` training pairs (fold 0), or every fold of
    K-fold cross-validation of the training pairs."""
    if folds is not None:
        return [(k, ('fold', k, folds)) for k in range(folds)]
    if validation is not None:
        return [(0, ('validation', validation))]
    return [(None, None)]


def held_out_problem(validation=None, folds=None):
    """Why these held-out options cannot be used (a message naming the option),
    or None."""
    if folds is not None and not 2 <= folds <= PAIRS:
        return f'--folds {folds}: must be 2 to {PAIRS}'
    if validation is not None and validation >= PAIRS:
        return f'--validation {validation}: must leave training pairs (below {PAIRS})'
    return None


def held_out_description(validation=None, folds=None):
    if folds is not None:
        return f'{folds}-fold cross-validation of the training pairs'
    if validation is not None:
        return f'validation: the last {validation} training pairs'
    return 'test pairs'


def _start_worker():
    torch.set_num_threads(1)  # the workers share the cores, one each
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def epoch_ticker(label):
    """A per-epoch callback that rewrites one status line on a terminal's stderr
    ('label: epoch e/E'); None when stderr is not a terminal (logs stay clean)."""
    if not sys.stderr.isatty():
        return None

    def tick(epoch, epochs):
        print(f'\r\x1b[K  {label}: epoch {epoch}/{epochs}', end='', file=sys.stderr, flush=True)
    return tick


def make_job(model, round_index, seed, split, overrides, data_dir, device='cpu', curves=False,
             quiet=False, **tag):
    """One model-round for run_job: `model` trained on the pairs of `seed` and
    scored on `split` (see round_pairs), with `overrides` of its training
    settings; `tag` (fold, setting; None left out) tells it from the other
    runs of its round."""
    tag = {key: value for key, value in tag.items() if value is not None}
    return dict(model=model, round=round_index, seed=seed, split=split,
                held_out='test' if split is None else split[0], overrides=overrides,
                data_dir=data_dir, device=device, curves=curves, quiet=quiet,
                **({'tag': tag} if tag else {}))


def with_pairs(jobs):
    """Each job of make_job with its round's pairs, drawn here as it is sent,
    so that only this process holds MNIST (55 MB, which would be a tenth of
    each worker's memory). The pairs go pickled by value, 3 MB per job: as
    tensors, multiprocessing would move them to shared memory, and the pool
    would then draw every job's pairs at once (0.3 GB for the default run)
    instead of a few at a time as the workers take them."""
    for job in jobs:
        yield dict(job, pairs=pickle.dumps(round_pairs(job['data_dir'], job['seed'], job['split'])))


def run_job(job):
    """One model-round of with_pairs: the result dict of train.run_once plus
    the round, what it was scored on (and the tag); a diverged training is a
    result marked failed."""
    head = dict(round=job['round'], held_out=job['held_out'],
                **({'tag': job['tag']} if 'tag' in job else {}))
    pairs = pickle.loads(job['pairs']).to(job['device'])
    ticker = None if job.get('quiet') else epoch_ticker(f"round {job['round'] + 1} {job['model']}")
    try:
        return dict(head, **run_once(job['model'], pairs, job['seed'], job['overrides'],
                                     job['device'], job['curves'], on_epoch=ticker))
    except TrainingDiverged as error:  # recorded as failed, and the run goes on
        return dict(head, model=job['model'], seed=job['seed'], failed=str(error))


def run_jobs(jobs, workers, one_thread=False):
    """Results of the jobs, in order, computed by `workers` processes of one
    thread each; if 1, here, with torch's threads, or one with `one_thread`
    (so a model-round gives the same digits as in a worker)."""
    if workers == 1:
        threads = torch.get_num_threads()
        if one_thread:
            torch.set_num_threads(1)
        try:
            yield from map(run_job, with_pairs(jobs))
        finally:
            torch.set_num_threads(threads)
        return
    # spawn, not fork: a forked child of a process that already ran OpenMP can hang.
    pool = multiprocessing.get_context('spawn').Pool(workers, initializer=_start_worker)
    try:  # imap takes the jobs as the workers ask for them: a few rounds' pairs in flight
        yield from pool.imap(run_job, with_pairs(jobs))
    finally:
        pool.terminate()
        pool.join()


def progress_line(result, done, total, elapsed, todo=None):
    """One line for a finished model-round: elapsed time, count, estimated time
    left (from the mean time per model-round of this run so far: `todo` is how
    many of the done ones ran in this process, when a resumed run skipped some)."""
    ran = done if todo is None else todo
    left = elapsed / ran * (total - done) if ran else 0.0
    head = (f"\r\x1b[K[{elapsed:6.1f} s, ~{left:5.0f} s left] {done}/{total} "
            f"round {result['round'] + 1} {result['model']:12s}")
    if not sys.stderr.isatty():
        head = head[len('\r\x1b[K'):]
    if 'failed' in result:
        return f"{head} FAILED: {result['failed']}"
    return (f"{head} held-out error {result['held_out_error']:5.1f}%  "
            f"({result['train_time_s']:.2f} s)")
