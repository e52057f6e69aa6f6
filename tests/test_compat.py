"""Where it runs: a torch below the floor is refused, the parts newer than the
floor are found by feature with a fallback, MNIST is read without torchvision,
and the default worker count fits the cores, the model-rounds and the memory."""

import os
import pickle
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, load_script, synthetic_digits
from torch import nn

import dlc_practical_prologue as prologue
import train
import utils
from report import bench

cli = load_script('test')

# Each script as a user runs it, with arguments that would otherwise start work.
SCRIPTS = [['test.py'], ['train.py', 'mlp'], ['-m', 'report.tune', 'mlp'], ['-m', 'report.bench'],
           ['-m', 'report.effects', 'report/results/default.json'],
           ['-m', 'report.plots', 'curves', 'report/results/curves.json'],
           ['-m', 'report.reproduction', 'report/results/reports.json'], ['-m', 'report.make_assets']]


def run_with_torch_version(tmp_path, version, *args):
    """Python with `args`, torch.__version__ set to `version` before anything
    imports it (a sitecustomize module on PYTHONPATH runs at start-up)."""
    (tmp_path / 'sitecustomize.py').write_text(f'import torch\ntorch.__version__ = {version!r}\n')
    env = {**os.environ, 'PYTHONPATH': str(tmp_path)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


@pytest.mark.parametrize('args', SCRIPTS, ids=lambda args: args[-1] if args[0] == '-m' else args[0])
def test_every_script_refuses_a_torch_below_the_floor(tmp_path, args):
    result = run_with_torch_version(tmp_path, '1.13.1+cpu', *args)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ''
    assert result.stderr.strip().splitlines() == [
        'error: this project needs torch 2.0 or newer (with the torchvision that matches it), '
        'and torch 1.13.1+cpu is installed: pip install -r requirements.txt']


def test_the_data_api_imports_with_any_torch_and_the_floor_runs(tmp_path):
    code = 'import dlc_practical_prologue as p; print(p.pair_target(__import__("torch").tensor([[1, 2]])))'
    old = run_with_torch_version(tmp_path, '1.13.1', '-c', code)
    assert old.returncode == 0 and old.stdout == 'tensor([1])\n', old.stderr
    floor = run_with_torch_version(tmp_path, '2.0.1', 'test.py', '--list')
    assert floor.returncode == 0 and 'cnn_ws_aux' in floor.stdout, floor.stderr


@pytest.mark.parametrize('version, refused', [('1.13.1', True), ('1.9.0+cu111', True), ('0.4.1', True),
                                              ('2.0.0', False), ('2.0.1+cu117', False),
                                              ('2.5.0a0+git1234abc', False), ('2.14.1+cu130', False),
                                              ('10.0', False)])
def test_torch_versions_against_the_floor(version, refused):
    message = utils.torch_too_old(version)
    assert (message is not None) == refused
    if refused:
        assert version in message and 'torch 2.0 or newer' in message


def fused_adam_runs_here():
    try:
        torch.optim.Adam([nn.Parameter(torch.zeros(1))], fused=True)
    except RuntimeError:
        return False
    return True


def test_adam_is_fused_where_this_torch_can_and_trains_either_way():
    model = nn.Linear(3, 2)
    opt = train.make_optimizer('adam', model.parameters(), lr=0.1)
    assert bool(opt.defaults.get('fused')) == fused_adam_runs_here()
    before = model.weight.detach().clone()
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    assert not torch.equal(before, model.weight)
    decayed = train.make_optimizer('adam', model.parameters(), lr=0.1, weight_decay=0.1)
    assert isinstance(decayed, torch.optim.AdamW) and decayed.defaults['weight_decay'] == 0.1


class AdamOfTorch20(torch.optim.Adam):
    """Adam as torch 2.0 to 2.3 build it on CPU tensors: the parameters are
    taken in, then fused=True is refused."""

    def __init__(self, params, fused=None, **options):
        super().__init__(params, **options)
        if fused:
            raise RuntimeError('`fused=True` requires all the params to be CUDA, floating point Tensor')


def test_without_a_fused_kernel_the_default_adam_takes_every_parameter():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    opt = train.fused_if_possible(AdamOfTorch20, model.parameters(), lr=0.1)
    assert type(opt) is AdamOfTorch20 and not opt.defaults.get('fused')
    assert len(opt.param_groups[0]['params']) == 4, 'the generator was not spent by the first try'


def test_cpu_capability_from_the_build_summary_of_an_older_torch(monkeypatch):
    assert utils.cpu_capability()  # this torch says it, one way or the other
    # torch 2.0 has no torch.backends.cpu (and the package's __getattr__ would import it back).
    monkeypatch.setattr(torch.backends, 'cpu', None, raising=False)
    monkeypatch.setattr(torch.__config__, 'show',
                        lambda: 'PyTorch built with:\n  - CPU capability usage: AVX512\n  - ...\n')
    assert utils.cpu_capability() == 'AVX512'
    monkeypatch.setattr(torch.__config__, 'show', lambda: 'PyTorch built with:\n')
    assert utils.cpu_capability() is None


def test_flops_are_left_out_where_torch_cannot_count_them(monkeypatch):
    monkeypatch.setattr(bench, 'FlopCounterMode', None)
    assert bench.training_flops('cnn_2ch', None, 25, 100) is None
    assert bench.gflops_summary(None, 2.0, 1.0) == dict(gflop=None, gflops=None, reference_gflops=None)
    assert bench.gflops_summary(4e9, 2.0, 1.0) == dict(gflop=4.0, gflops=4.0, reference_gflops=2.0)


def test_mnist_is_read_as_torchvision_reads_it_without_importing_it(fake_mnist):
    from torchvision import datasets
    for train_split in (True, False):
        images, labels = prologue.load_mnist(str(fake_mnist), train_split)
        theirs = datasets.MNIST(str(fake_mnist / 'mnist'), train=train_split)
        assert images.dtype == torch.float32 and torch.equal(images, theirs.data.unsqueeze(1).float())
        assert labels.dtype == torch.int64 and torch.equal(labels, theirs.targets)
        small, _ = prologue.load_mnist(str(fake_mnist), train_split, torch.uint8)
        assert small.dtype == torch.uint8 and torch.equal(small.float(), images)
    code = ('import sys, dlc_practical_prologue as p; p.load_mnist_splits(sys.argv[1]); '
            'print("torchvision" in sys.modules)')
    result = subprocess.run([sys.executable, '-c', code, str(fake_mnist)], capture_output=True,
                            text=True, cwd=ROOT, timeout=300, env=os.environ)
    assert result.returncode == 0 and result.stdout == 'False\n', result.stderr


def test_pairs_from_uint8_images_equal_those_from_float_images():
    images, labels = synthetic_digits(400)
    drawn = [prologue.mnist_to_pairs(100, x, labels, torch.Generator().manual_seed(3))
             for x in (images, images.to(torch.uint8))]
    assert drawn[0][0].dtype == drawn[1][0].dtype == torch.float32
    assert all(torch.equal(a, b) for a, b in zip(*drawn))


@pytest.mark.parametrize('content', [b'\0\0\x08\x01' + (5).to_bytes(4, 'big') + b'\1\2\3',  # short
                                     b'\0\0\x0d\x01' + (3).to_bytes(4, 'big') + b'\1\2\3',  # floats
                                     b'\0\0'])
def test_a_file_that_is_not_mnist_is_named(tmp_path, content):
    path = tmp_path / 'train-labels-idx1-ubyte'
    path.write_bytes(content)
    with pytest.raises(prologue.MnistUnavailable, match='not an MNIST file') as caught:
        prologue.read_idx(str(path))
    assert str(path) in str(caught.value)


def test_an_idx_file_is_read_as_its_header_says(tmp_path):
    path = tmp_path / 'labels'
    path.write_bytes(b'\0\0\x08\x01' + (3).to_bytes(4, 'big') + b'\1\2\3')
    assert prologue.read_idx(str(path)).tolist() == [1, 2, 3]


@pytest.mark.parametrize('cores, jobs, memory, workers, why', [
    (2, 100, 24e9, 2, 'one per core'),
    (16, 100, 8.5e9, 8, '8.5 GB of memory available: room for 8'),
    (16, 100, None, 4, 'memory unknown: room for 4'),
    (16, 3, 24e9, 3, 'one per model-round, fewer than the 16 cores'),
    (16, 100, 0.3e9, 1, 'room for 1'),
    (1, 100, None, 1, 'one per core'),
])
def test_the_default_workers_fit_cores_model_rounds_and_memory(monkeypatch, cores, jobs, memory,
                                                               workers, why):
    monkeypatch.setattr(os, 'cpu_count', lambda: cores)
    chosen, reason, warning = utils.workers_for(None, jobs, 'cpu', memory)
    assert chosen == workers and why in reason and warning is None
    assert utils.workers_for(None, jobs, 'cuda', memory)[0] == 1


def test_asked_workers_are_obeyed_with_a_warning_when_they_may_not_fit():
    assert utils.workers_for(2, 100, 'cpu', 24e9) == (2, 'as asked', None)
    assert utils.workers_for(16, 100, 'cpu', None)[2] is None, 'memory unknown: no warning'
    assert 'may not fit' in utils.workers_for(16, 100, 'cpu', 8.5e9)[2]
    assert utils.workers_for(8, 100, 'cpu', 8.5e9)[2] is None, 'eight fit in 8.5 GB'


def test_available_memory_is_read_where_the_platform_gives_it():
    memory = utils.available_memory()
    if sys.platform.startswith('linux'):
        assert isinstance(memory, int) and memory > 0
    else:
        assert memory is None or memory > 0


def test_the_start_line_says_how_many_workers_and_why(fake_mnist, capsys, monkeypatch):
    monkeypatch.setattr(utils, 'available_memory', lambda: 1.5e9)
    args = ['--data_dir', str(fake_mnist), '--rounds', '1', '--epochs', '1', '--models', 'mlp']
    assert cli.main(args + ['--workers', '2']) == 0
    err = capsys.readouterr().err
    assert 'warning: --workers 2 may not fit in memory' in err and 'on 2 worker(s) (as asked)' in err
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert '1 model-rounds to train on 1 worker(s) (' in err and 'warning' not in err


def test_a_model_round_gives_the_same_digits_in_a_worker_and_here_on_one_thread(fake_mnist):
    jobs = [train.make_job(name, 0, 7, None, dict(epochs=2), str(fake_mnist), quiet=True)
            for name in ('cnn_ws_aux', 'mlp')]
    threads = torch.get_num_threads()
    here = list(train.run_jobs(jobs, 1, one_thread=True))
    assert torch.get_num_threads() == threads, 'this process gets its threads back'
    pooled = list(train.run_jobs(jobs, 2))
    for a, b in zip(here, pooled):
        assert a['model'] == b['model'] and a['history'] == b['history']
        assert a['held_out_error'] == b['held_out_error'] and a['train_error'] == b['train_error']


def test_the_pairs_go_to_the_workers_by_value(fake_mnist):
    # As tensors, multiprocessing would move them to shared memory, and the pool
    # would draw every job's pairs at once; as bytes, a few are in flight.
    job = train.make_job('mlp', 0, 7, ('validation', 100), {}, str(fake_mnist))
    sent = next(train.with_pairs([job]))['pairs']
    assert isinstance(sent, bytes)
    pairs, drawn = pickle.loads(sent), train.round_pairs(str(fake_mnist), 7, ('validation', 100))
    assert all(torch.equal(a, b) for a, b in zip(pairs, drawn)) and pairs.test_input.size(0) == 100
