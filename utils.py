"""Small helpers shared by the scripts: the check that torch is recent enough
(at import: every script imports this module), statistics, command-line value
types, the results table, atomic JSON files, the device choice, the machine
(environment, available_memory), what made a results file (provenance), and
reading results files (load_results, completed, run_key), how many worker
processes a run starts (workers_for) and its progress lines on stderr.

Example:
    python -c "import utils; print(utils.mean_std([1.0, 2.0, 3.0]))"
"""

import argparse
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile

import torch

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


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not an integer') from None
    if value < 1:
        raise argparse.ArgumentTypeError(f'{value} is below 1')
    return value


def int_between(low, high):
    """argparse type: an integer from `low` to `high`."""
    def parse(text):
        value = positive_int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f'{value} is not within {low} to {high}')
        return value
    return parse


def _finite_float(text, above_zero):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a number') from None
    if not math.isfinite(value) or value < 0 or (above_zero and value == 0):
        bound = 'above 0' if above_zero else '>= 0'
        raise argparse.ArgumentTypeError(f'{text!r} is not a finite number {bound}')
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    return _finite_float(text, above_zero=True)


def non_negative_float(text):
    """argparse type: a finite number >= 0."""
    return _finite_float(text, above_zero=False)


def list_of(value_type):
    """argparse type: comma-separated values, each read by `value_type`, repeats dropped."""
    def parse(text):
        items = [item.strip() for item in text.split(',') if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError('no value given')
        return list(dict.fromkeys(value_type(item) for item in items))
    parse.__name__ = f'list of {value_type.__name__}'
    return parse


def results_path_problem(path):
    """Why `path` can't take a results file (None if it can): it must end in
    .json and its folder must exist and be writable."""
    folder = os.path.dirname(os.path.abspath(path))
    if not path.endswith('.json'):
        return f'{path!r}: the results file must end in .json'
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        return f'{path!r}: folder {folder} does not exist or is not writable'
    return None


def choose_device(name):
    """'cpu', 'cuda' or 'auto' -> a torch device name; ValueError if CUDA is asked for and absent."""
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda' and not torch.cuda.is_available():
        raise ValueError('--device cuda: no CUDA device is available here (try --device auto or cpu)')
    return name


def cpu_capability():
    """The vector instructions torch's CPU kernels use here ('AVX2', 'AVX512',
    ...; None if torch does not say). Float results of the same run differ
    between them, so bit-for-bit reproduction needs the same kind."""
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
    """Bytes of memory that new processes can take without swapping, or None
    where the platform does not say. Linux: MemAvailable, within the memory
    limit of the process's cgroup (a container's); Windows: the available
    physical memory; other POSIX systems (macOS): the free pages, else half the
    physical memory."""
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


REPOSITORY = os.path.dirname(os.path.abspath(__file__))


def provenance(script, argv):
    """What makes a results file: the command line (`script`, e.g. 'test.py'
    or '-m report.tune', and its arguments `argv`) and the code version: the git commit of this checkout,
    with '+changes' when tracked files differ from it (None outside a git
    checkout)."""
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


# --- Results files ---------------------------------------------------------
# One schema for test.py and report.tune: {'config': ..., 'results': [run, ...]}
# (report.tune adds 'settings' and 'chosen'). A run names its model, round, seed,
# optionally a tag (fold, setting), and what its error was measured on,
# 'held_out': 'test' (the test pairs), 'validation' or 'fold' (held-out
# training pairs); then held_out_error, held_out_digit_error and
# held_out_mistakes, or 'failed' with the reason when its training diverged.

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
    """What names a run, in a file and across files: its model, its seed (the
    round's pairs and weights), what it was scored on, and its fold (None
    outside K-fold runs)."""
    return run['model'], run['seed'], run['held_out'], run.get('tag', {}).get('fold')


def format_table(header, rows, align):
    """Plain-text table; `align` is one of '<' or '>' per column."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    lines = [header, ['-' * w for w in widths], *rows]
    return '\n'.join('  '.join(f'{str(cell):{a}{w}}' for cell, a, w in zip(line, align, widths))
                     .rstrip() for line in lines)


# --- Worker processes and progress lines of a run of model-rounds ----------------

# Peak resident memory of one worker process, with a margin: in the default
# run a worker peaks at 0.72 GB (torch itself 0.52 GB, and 0.16 GB more once
# the first optimizer imports torch._dynamo, in torch 2.14; report/EXPERIMENTS.md).
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


def epoch_ticker(label):
    """A per-epoch callback that rewrites one status line on a terminal's stderr
    ('label: epoch e/E'); None when stderr is not a terminal (logs stay clean)."""
    if not sys.stderr.isatty():
        return None

    def tick(epoch, epochs):
        print(f'\r\x1b[K  {label}: epoch {epoch}/{epochs}', end='', file=sys.stderr, flush=True)
    return tick


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
