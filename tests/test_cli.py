"""test.py from the command line: bad input is refused, a small run works end to end."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, real_mnist_dir

# Loaded by path: `import test` would find the standard library's test package.
_spec = importlib.util.spec_from_file_location('pair_cli', ROOT / 'test.py')
cli = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cli)


def run_cli(*args, env=None):
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, str(ROOT / 'test.py'), *args], capture_output=True,
                          text=True, cwd=ROOT, env=environment, timeout=600)


@pytest.mark.parametrize('args, message', [
    (['--models', 'cnn,resnet'], "unknown model 'resnet'; known groups: main, reports"),
    (['--models', ','], 'no model named'),
    (['--rounds', '0'], '0 is below 1'),
    (['--epochs', '-2'], '-2 is below 1'),
    (['--epochs', 'ten'], "'ten' is not an integer"),
    (['--rounds', '2.5'], "'2.5' is not an integer"),
    (['--lr', 'fast'], "'fast' is not a number"),
    (['--lr', '0'], 'above 0'),
    (['--lr', 'nan'], 'finite'),
    (['--aux_weight', '-1'], '>= 0'),
    (['--seed', 'x'], 'invalid int value'),
    (['--optimizer', 'rmsprop'], "invalid choice: 'rmsprop'"),
    (['--device', 'tpu'], "invalid choice: 'tpu'"),
    (['--out', 'results.txt'], 'must end in .json'),
    (['--out', '/no/such/folder/r.json'], 'does not exist'),
    (['--bogus'], 'unrecognized arguments'),
])
def test_bad_input_is_refused_with_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(args)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_refusal_from_the_shell_has_no_traceback():
    result = run_cli('--models', 'resnet', '--rounds', '0')
    assert result.returncode == 2
    assert 'unknown model' in result.stderr and 'Traceback' not in result.stderr


@pytest.mark.skipif(__import__('torch').cuda.is_available(), reason='a GPU is present')
def test_cuda_without_a_gpu_is_refused(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(['--device', 'cuda'])
    assert caught.value.code == 2 and 'no CUDA device' in capsys.readouterr().err


def test_help_states_the_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(['--help'])
    out = ' '.join(capsys.readouterr().out.split())
    for default in ['(default: 10)', "(default: each model's own, 25)", '(default: 0)',
                    '(default: cpu)', '$PYTORCH_DATA_DIR']:
        assert default in out, default


def test_list_shows_every_model_with_parameters(capsys):
    assert cli.main(['--list']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 10
    assert any(line.split()[:2] == ['cnn_2ch', '70,906'] for line in lines)


def test_missing_data_exits_1_with_a_message(tmp_path):
    # An empty folder with no network: torchvision's download fails. With a
    # network this test would download MNIST, so it only runs offline-proof:
    # a file stands where the mnist folder should be, which no download can fix.
    (tmp_path / 'mnist').write_text('not a folder')
    result = run_cli('--data_dir', str(tmp_path), '--rounds', '1', '--models', 'mlp')
    assert result.returncode == 1
    assert 'MNIST could not be loaded' in result.stderr and 'train-images-idx3-ubyte' in result.stderr
    assert 'Traceback' not in result.stderr


def check_run(result, out, models, rounds, epochs, curves=False):
    assert result.returncode == 0, result.stderr
    table = result.stdout
    for name in models:
        assert any(line.startswith(name + ' ') for line in table.splitlines()), name
    saved = json.loads(out.read_text())
    assert saved['config']['models'] == models and saved['config']['rounds'] == rounds
    assert len(saved['results']) == len(models) * rounds
    for row in saved['results']:
        assert {'params', 'train_error', 'test_error', 'train_time_s', 'history'} <= set(row)
        assert len(row['history']['train_error']) == epochs
        assert len(row['history'].get('test_error', [])) == (epochs if curves else 0)
        assert 0 <= row['test_error'] <= 100
    return saved


def test_small_run_on_synthetic_mnist_writes_table_and_json(fake_mnist, tmp_path):
    out = tmp_path / 'r.json'
    models = ['mlp_ws_aux', 'cnn_digits']
    result = run_cli('--data_dir', str(fake_mnist), '--rounds', '2', '--epochs', '2',
                     '--models', ','.join(models), '--out', str(out), '--quiet', '--curves')
    saved = check_run(result, out, models, rounds=2, epochs=2, curves=True)
    assert result.stderr == '', '--quiet prints no progress'
    by_round = {(r['model'], r['round']): r['seed'] for r in saved['results']}
    assert by_round == {(m, r): r for m in models for r in range(2)}
    assert not [p for p in tmp_path.iterdir() if p.suffix == '.tmp'], 'no temporary file left'


def test_validation_split_never_uses_the_test_pairs(fake_mnist, tmp_path):
    out = tmp_path / 'v.json'
    result = run_cli('--data_dir', str(fake_mnist), '--rounds', '1', '--epochs', '1',
                     '--models', 'mlp_ws', '--validation', '200', '--out', str(out),
                     '--workers', '1')
    assert result.returncode == 0, result.stderr
    assert 'val err %' in result.stdout and 'test err %' not in result.stdout
    config = json.loads(out.read_text())['config']
    assert config['held_out'] == 'validation: the last 200 training pairs'


def test_folds_train_each_fold_and_resume_by_fold(fake_mnist, tmp_path):
    out = tmp_path / 'f.json'
    args = ['--data_dir', str(fake_mnist), '--rounds', '2', '--epochs', '1', '--models', 'mlp_ws',
            '--folds', '3', '--workers', '1', '--out', str(out), '--quiet']
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    saved = json.loads(out.read_text())
    assert saved['config']['held_out'] == '3-fold cross-validation of the training pairs'
    runs = {(r['round'], r['tag']['fold']): r for r in saved['results']}
    assert sorted(runs) == [(r, k) for r in range(2) for k in range(3)]
    row = next(line for line in result.stdout.splitlines() if line.startswith('mlp_ws'))
    assert 'val err %' in result.stdout and row.split()[2] == '2', 'two rounds, of three folds'
    # A file cut after four fold-runs resumes with the two left.
    saved['results'] = saved['results'][:4]
    out.write_text(json.dumps(saved))
    resumed = run_cli(*args[:-3], '--resume', str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert '6 model-rounds of 6' in resumed.stdout
    again = json.loads(out.read_text())['results']
    assert [(r['round'], r['tag']['fold']) for r in again[4:]] == [(1, 1), (1, 2)]
    assert again[4]['test_error'] == runs[(1, 1)]['test_error'], 'the same fold, the same result'


def test_folds_and_validation_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(['--folds', '5', '--validation', '200'])
    assert caught.value.code == 2 and 'not allowed with argument' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(['--folds', '1'])
    assert 'must be 2 to 1000' in capsys.readouterr().err


@pytest.mark.skipif(real_mnist_dir() is None, reason='real MNIST not available')
def test_end_to_end_on_real_mnist(tmp_path):
    out = tmp_path / 'r.json'
    models = ['cnn_ws_aux', 'cnn_2ch']
    result = run_cli('--data_dir', real_mnist_dir(), '--rounds', '1', '--epochs', '1',
                     '--models', ','.join(models), '--out', str(out))
    saved = check_run(result, out, models, rounds=1, epochs=1)
    digit_error = saved['results'][0]['test_digit_error']
    assert digit_error < 50, 'one epoch of digit losses is far better than chance (90%)'


def test_bench_reports_speed_and_same_errors(fake_mnist):
    result = subprocess.run([sys.executable, str(ROOT / 'bench.py'), '--data_dir', str(fake_mnist),
                             '--epochs', '1', '--repeats', '1', '--no_suite', '--json'],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ('reference_s', 'project_s', 'speedup', 'gflops', 'ceiling_gflops'):
        assert summary[key] > 0, key
    assert summary['speedup'] == pytest.approx(summary['reference_s'] / summary['project_s'])
    assert 'speedup:' in result.stdout


def test_bench_unfolded_convolution_matches_torch():
    import bench
    torch.manual_seed(0)
    convolution = torch.nn.Conv2d(3, 5, 3)
    unfolded = bench.with_unfolded_convolutions(torch.nn.Sequential(convolution))[0]
    assert isinstance(unfolded, bench.UnfoldedConv2d)
    x = torch.randn(4, 3, 7, 6).to(memory_format=torch.channels_last).requires_grad_()
    grad = torch.randn(4, 5, 5, 4)
    expected = torch.autograd.grad(convolution(x), [x, convolution.weight, convolution.bias], grad)
    got = torch.autograd.grad(unfolded(x), [x, unfolded.weight, unfolded.bias], grad)
    torch.testing.assert_close(unfolded(x), convolution(x))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_group_names_select_a_report(capsys):
    args = cli.parse_args(['--models', 'r002,cnn'])
    assert args.models == ['r002_model1', 'r002_model2', 'r002_model3', 'r002_model4', 'cnn']


@pytest.mark.parametrize('script, args, message', [
    ('train.py', ['resnet'], "invalid choice: 'resnet'"),
    ('train.py', ['cnn', '--epochs', '0'], '0 is below 1'),
    ('bench.py', ['--repeats', '0'], '0 is below 1'),
    ('bench.py', ['--epochs', 'many'], "'many' is not an integer"),
    ('reproduction.py', [], 'the following arguments are required'),
])
def test_every_script_refuses_bad_options(script, args, message):
    result = subprocess.run([sys.executable, str(ROOT / script), *args], capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2
    assert message in result.stderr and 'Traceback' not in result.stderr


@pytest.mark.parametrize('script, args', [('train.py', ['mlp']), ('bench.py', ['--no_suite'])])
def test_every_script_explains_missing_data(script, args, tmp_path):
    (tmp_path / 'mnist').write_text('not a folder')  # no download can fix this
    result = subprocess.run([sys.executable, str(ROOT / script), *args, '--data_dir',
                             str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1
    assert 'MNIST could not be loaded' in result.stderr and 'Traceback' not in result.stderr
