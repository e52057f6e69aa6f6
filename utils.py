"""Small helpers shared by the scripts: statistics and the results table,
results files, command-line values and progress lines; below the banner, the
platform (device, machine, worker processes, and the torch version check that
every script meets at import).

Example:
    python -c "import utils; print(utils.mean_std([1.0, 2.0, 3.0]))"
"""

import argparse
import json
import math
import multiprocessing
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile

import torch

# --- Statistics and the results table --------------------------------------------

def mean_std(values):
    """Mean and sample standard deviation (nan for fewer than two values)."""
    values = list(values)
    if not values:
        return math.nan, math.nan
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return statistics.fmean(values), std


def format_mean_std(values, digits=1):
    mean, std = mean_std(values)
    if math.isnan(std):
        return f'{mean:.{digits}f}'
    return f'{mean:.{digits}f} ± {std:.{digits}f}'


def format_table(header, rows, align):
    """Plain-text table; `align` is one of '<' or '>' per column."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = [header, ['-' * w for w in widths], *rows]
    return '\n'.join('  '.join(f'{str(cell):{a}{w}}' for cell, a, w in zip(line, align, widths))
                     .rstrip() for line in lines)


# --- Results files ---------------------------------------------------------------
# One schema for test.py and report.tune: {'config': ..., 'results': [run, ...]}
# (report.tune adds 'settings' and 'chosen'). A run names its model, round, seed,
# optionally a tag (fold, setting), and what it was scored on ('held_out': 'test',
# 'validation' or 'fold'); then its errors, or 'failed' when its training diverged.

def load_results(path):
    """The results file at `path` (a dict with 'config' and 'results'); a
    ValueError naming the file when it is not one."""
    try:
        with open(path) as f:
            saved = json.load(f)
        if not isinstance(saved['config'], dict):
            raise TypeError('its config is not a dict')
        settings = saved.get('settings')  # report.tune's grid: each run names its setting
        for run in saved['results']:
            if not {'model', 'seed', 'held_out'} <= set(run) or \
                    not ('failed' in run or 'held_out_error' in run):
                raise KeyError('a run lacks its model, seed, held-out set or error')
            if settings is not None and run['tag']['setting'] not in range(len(settings)):
                raise IndexError('a run names no setting of the file')
    except (OSError, ValueError, KeyError, IndexError, TypeError) as error:
        raise ValueError(f'{path} is not a results file of test.py or report.tune ({error})') from None
    return saved


def completed(runs, model=None):
    """The runs (of `model`) whose training did not diverge: the one place that
    leaves failed runs out."""
    return [r for r in runs if 'failed' not in r and (model is None or r['model'] == model)]


def run_key(run):
    """What names a run, in a file and across files: model, seed, what it was
    scored on, and fold (None outside K-fold runs)."""
    return run['model'], run['seed'], run['held_out'], run.get('tag', {}).get('fold')


def results_path_problem(path):
    """Why `path` can't take a results file (None if it can): it must end in
    .json and its folder must exist and be writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not path.endswith('.json'):
        return f'{path!r}: the results file must end in .json'
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        return f'{path!r}: folder {folder} does not exist or is not writable'
    return None


REPOSITORY = os.path.dirname(os.path.abspath(__file__))


def provenance(script, argv):
    """What made a results file: the command line (`script`, e.g. 'test.py' or
    '-m report.tune', and `argv`) and the git commit of this checkout, with
    '+changes' when tracked files differ from it (None outside git)."""
    try:
        def git(*args):
            return subprocess.run(['git', *args], cwd=REPOSITORY, capture_output=True, text=True,
                                  timeout=30, check=True).stdout.strip()
        commit = git('rev-parse', 'HEAD')
        if git('status', '--porcelain', '--untracked-files=no'):
            commit += '+changes'
    except (OSError, subprocess.SubprocessError):
        commit = None
    return dict(command=shlex.join(['python', *script.split(), *map(str, argv)]), commit=commit)


def write_text_atomic(path, text):
    """Write `text` to `path` via a temporary file and a rename, so a reader
    never sees a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path), suffix='.tmp')
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; results are for sharing
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C too: no temporary file is left behind
        try:
            os.unlink(tmp)
        except FileNotFoundError:  # a Ctrl-C just after the rename: the file is whole
            pass
        raise


def write_json_atomic(path, obj):
    write_text_atomic(path, json.dumps(obj, indent=1) + '\n')


# --- Command-line values and progress lines -------------------------------------

def int_between(low, high=None):
    """argparse type: an integer from `low` to `high` (None: no limit)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f'{value} is below {low}' if high is None else
                                             f'{value} is not within {low} to {high}')
        return value
    return parse


positive_int = int_between(1)  # argparse type: an integer >= 1


def epoch_ticker(label):
    """A per-epoch callback that rewrites one status line on a terminal's stderr
    ('label: epoch e/E'); None when stderr is not a terminal (logs stay clean)."""
    if not sys.stderr.isatty():
        return None

    def tick(epoch, epochs):
        print(f'\r\x1b[K  {label}: epoch {epoch}/{epochs}', end='', file=sys.stderr, flush=True)
    return tick


def progress_line(result, done, total, elapsed, todo=None):
    """One line for a finished model-round: time elapsed, count, time left (from
    the mean so far of the `todo` model-rounds of `done` that ran here)."""
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


# =====================================================================================
# The platform: the device, the machine, worker processes, and the torch floor.
# =====================================================================================

def choose_device(name):
    """'cpu', 'cuda' or 'auto' -> a torch device name; ValueError if CUDA is asked for and absent."""
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: no CUDA device is available here (try --device auto or cpu)')
    return name


def cpu_capability():
    """The vector instructions torch's CPU kernels use ('AVX2', 'AVX512', ...;
    None if torch does not say): results differ in the last bits between them."""
    backend = getattr(torch.backends, 'cpu', None)  # torch 2.1 and newer
    if backend is not None:
        return backend.get_cpu_capability()
    # Older torch prints it in its build summary: '  - CPU capability usage: AVX2'.
    found = re.search(r'CPU capability usage: (\S+)', torch.__config__.show())
    return found.group(1) if found else None


def environment():
    """What a reader needs to judge a timing: versions, machine, threads."""
    return dict(torch=torch.__version__, python=platform.python_version(),
                machine=platform.machine(), processor=platform.processor() or None,
                cpu_capability=cpu_capability(),
                cpu_count=os.cpu_count(), torch_threads=torch.get_num_threads(),
                cuda_device=torch.cuda.get_device_name() if torch.cuda.is_available() else None)


def available_memory():
    """Bytes new processes can take without swapping (None: the platform does not
    say): Linux's MemAvailable within the cgroup's limit, Windows' available
    physical memory, else (macOS) the free pages or half the physical memory."""
    try:
        if os.path.isfile('/proc/meminfo'):
            with open('/proc/meminfo') as f:
                fields = dict(line.split(':', 1) for line in f)
            available = int(fields['MemAvailable'].split()[0]) * 1024
            return min(available, _cgroup_memory_left() or available)
        if os.name == 'nt':
            return _windows_available_memory()
        pages = os.sysconf_names.get('SC_AVPHYS_PAGES')
        if pages is not None:
            return os.sysconf(pages) * os.sysconf('SC_PAGE_SIZE')
        return os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') // 2
    except (OSError, ValueError, KeyError, IndexError, AttributeError):
        return None


def _cgroup_memory_left():
    """The bytes left under this process's cgroup v2 memory limit, or None (no limit, no cgroup v2)."""
    try:
        with open('/proc/self/cgroup') as f:
            path = next(line.split(':', 2)[2].strip() for line in f if line.startswith('0::'))
        folder = os.path.join('/sys/fs/cgroup', path.lstrip('/'))
        with open(os.path.join(folder, 'memory.max')) as f:
            limit = f.read().strip()
        with open(os.path.join(folder, 'memory.current')) as f:
            current = int(f.read())
    except (OSError, ValueError, StopIteration):
        return None
    return None if limit == 'max' else max(int(limit) - current, 0)


def _windows_available_memory():
    import ctypes

    class MemoryStatus(ctypes.Structure):
        _fields_ = [('length', ctypes.c_ulong), ('load', ctypes.c_ulong),
                    ('total', ctypes.c_ulonglong), ('available', ctypes.c_ulonglong),
                    ('total_page_file', ctypes.c_ulonglong), ('free_page_file', ctypes.c_ulonglong),
                    ('total_virtual', ctypes.c_ulonglong), ('free_virtual', ctypes.c_ulonglong),
                    ('free_extended', ctypes.c_ulonglong)]
    status = MemoryStatus(length=ctypes.sizeof(MemoryStatus))
    if not ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):
        return None
    return status.available


# Peak resident memory of one worker process, with a margin: in the default run
# a worker peaks at 726 MiB (0.76 GB, report/results/memory.txt, torch 2.14).
WORKER_MEMORY = 1.0e9
WORKERS_WITHOUT_MEMORY_FIGURE = 4


def workers_for(requested, jobs, device='cpu', memory=None):
    """(workers, why, warning) for a run of `jobs` model-rounds with `memory`
    bytes available (None: the platform does not say). `requested` (--workers)
    is obeyed, with a warning where the memory may not hold it; by default, one
    per core, but no more than there are model-rounds, nor than the memory
    holds at WORKER_MEMORY each; one on cuda, where one process drives the GPU."""
    fits = WORKERS_WITHOUT_MEMORY_FIGURE if memory is None else max(1, int(memory // WORKER_MEMORY))
    if requested is not None:
        too_many = memory is not None and requested > fits
        return requested, 'as asked', (f'warning: --workers {requested} may not fit in memory: each '
                                       f'takes up to {WORKER_MEMORY / 1e9:.1f} GB, and '
                                       f'{memory / 1e9:.1f} GB is available' if too_many else None)
    if device != 'cpu':
        return 1, f'one process drives {device}', None
    cores = os.cpu_count() or 1
    workers = max(1, min(cores, jobs, fits))
    if workers == cores:
        return workers, 'one per core', None
    if workers == jobs:
        return workers, f'one per model-round, fewer than the {cores} cores', None
    free = 'memory unknown' if memory is None else f'{memory / 1e9:.1f} GB of memory available'
    return workers, f'{free}: room for {fits} at up to {WORKER_MEMORY / 1e9:.1f} GB each', None


def map_in_workers(function, items, workers, one_thread=False):
    """function(item) for each of `items`, in order, from `workers` processes of
    one thread each; if 1, here, with torch's threads (one with `one_thread`)."""
    if workers == 1:
        threads = torch.get_num_threads()
        if one_thread:
            torch.set_num_threads(1)
        try:
            yield from map(function, items)
        finally:
            torch.set_num_threads(threads)
        return
    # spawn, not fork: a forked child of a process that already ran OpenMP can hang.
    pool = multiprocessing.get_context('spawn').Pool(workers, initializer=_start_worker)
    try:  # imap takes the items as the workers ask for them: a few in flight
        yield from pool.imap(function, items)
    finally:
        pool.terminate()
        pool.join()


def _start_worker():
    torch.set_num_threads(1)  # the workers share the cores, one each
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


# The oldest torch the project runs on, as requirements.txt and README.md say.
TORCH_FLOOR = (2, 0)


def torch_too_old(version):
    """A one-line refusal when torch `version` ('1.13.1+cpu') is below
    TORCH_FLOOR, else None."""
    found = tuple(int(part) for part in re.findall(r'\d+', version)[:2])
    if found >= TORCH_FLOOR:
        return None
    needed = '.'.join(map(str, TORCH_FLOOR))
    return (f'error: this project needs torch {needed} or newer (with the torchvision that '
            f'matches it), and torch {version} is installed: pip install -r requirements.txt')


# Every script imports this module: an older torch stops them all here, with
# the message and exit status 1, before any of its missing parts is reached.
if torch_too_old(torch.__version__):
    raise SystemExit(torch_too_old(torch.__version__))
