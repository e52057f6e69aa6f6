"""Shared fixtures: synthetic digit data, so most tests need no MNIST, and
one way to run the scripts.

Synthetic "digits" are ten fixed random 28x28 templates (one per class) plus
noise: learnable in a few epochs, and made in milliseconds.
"""

import importlib.util
import os
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import dlc_practical_prologue as prologue  # the repository root is on the path: pytest.ini
from train import PairSets

ROOT = Path(__file__).resolve().parent.parent


def synthetic_digits(n, seed=0, noise=60.0):
    """n images (n, 1, 28, 28) float32 in 0..255 and labels (n,) int64."""
    templates = torch.rand(10, 1, 28, 28, generator=torch.Generator().manual_seed(1234)) * 255
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    images = templates[labels] + noise * torch.randn(n, 1, 28, 28, generator=g)
    return images.clamp(0, 255).round(), labels


def synthetic_pairs(nb=200, seed=0):
    """PairSets of nb train and nb test pairs drawn from synthetic digits."""
    g = torch.Generator().manual_seed(seed)
    train = prologue.mnist_to_pairs(nb, *synthetic_digits(2 * nb, seed), g)
    test = prologue.mnist_to_pairs(nb, *synthetic_digits(2 * nb, seed + 1), g)
    return PairSets(*train, *test)


def write_idx(path, tensor):
    """Write a uint8 tensor in MNIST's idx format (images: 3 dims, labels: 1)."""
    magic = 2051 if tensor.dim() == 3 else 2049
    with open(path, 'wb') as f:
        f.write(struct.pack('>I', magic))
        f.write(struct.pack('>' + 'I' * tensor.dim(), *tensor.shape))
        f.write(tensor.to(torch.uint8).numpy().tobytes())


def make_fake_mnist(data_dir, n_train=2000, n_test=2000):
    """A synthetic MNIST in torchvision's layout under data_dir/mnist/MNIST/raw."""
    raw = Path(data_dir) / 'mnist' / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    for prefix, n, seed in (('train', n_train, 0), ('t10k', n_test, 1)):
        images, labels = synthetic_digits(n, seed)
        write_idx(raw / f'{prefix}-images-idx3-ubyte', images.squeeze(1))
        write_idx(raw / f'{prefix}-labels-idx1-ubyte', labels)
    return Path(data_dir)


@pytest.fixture(scope='session')
def fake_mnist_folder(tmp_path_factory):
    """The synthetic MNIST, written once per session; no test writes into it."""
    return make_fake_mnist(tmp_path_factory.mktemp('fake') / 'data')


@pytest.fixture
def fake_mnist(fake_mnist_folder, monkeypatch):
    # Synthetic digits are not MNIST: skip the size and MD5 check, here and in subprocesses.
    monkeypatch.setenv(prologue.SKIP_CHECK_VARIABLE, '1')
    return fake_mnist_folder


def command(script, *args):
    """The command line that runs `script` as a user does: a file of the root
    ('test.py') by its path, a study tool ('report.tune') as a module."""
    run = [str(ROOT / script)] if script.endswith('.py') else ['-m', script]
    return [sys.executable, *run, *map(str, args)]


def run_script(script, *args, env=None, timeout=600):
    """Run one of the project's scripts (see command) in a fresh interpreter
    from the repository root; `env` adds to (or, with value None, removes
    from) the environment."""
    environment = {**os.environ, **(env or {})}
    environment = {key: value for key, value in environment.items() if value is not None}
    return subprocess.run(command(script, *args),
                          capture_output=True, text=True, cwd=ROOT, env=environment,
                          timeout=timeout)


def start_script(script, *args):
    """Start a script with its stdout and stderr piped, for tests that signal it.
    Ctrl-C gets its default meaning back in the child: a shell's background job
    (pytest ... &) ignores SIGINT, and children inherit that."""
    return subprocess.Popen(command(script, *args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def interrupt_after(process, lines):
    """Send Ctrl-C to a started script once `lines` lines have come on its
    stderr; its (stdout, stderr) afterwards. It is killed if it outlives the test."""
    try:
        seen = [process.stderr.readline() for _ in range(lines)]
        assert all(seen), f'the process ended before {lines} lines: {seen}'
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
        return out, ''.join(seen) + err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def load_script(name):
    """A script of the repository root loaded as a module by path (`import test`
    would find the standard library's test package)."""
    spec = importlib.util.spec_from_file_location(f'script_{name}', ROOT / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def real_mnist_dir():
    """A folder holding mnist/MNIST/raw with the four real files, or None."""
    candidates = [os.environ.get('PYTORCH_DATA_DIR'), str(ROOT.parent / 'shared' / 'data'),
                  str(ROOT / 'data')]
    for folder in filter(None, candidates):
        raw = Path(folder) / 'mnist' / 'MNIST' / 'raw'
        if all((raw / name).is_file() for name in prologue.MNIST_FILES):
            return folder
    return None
