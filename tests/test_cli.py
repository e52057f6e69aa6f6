"""test.py from the command line: bad input is refused, a small run works end to end."""

import importlib.util
import json
import re
import shutil
import statistics

import pytest
import torch
from conftest import load_script, real_mnist_dir, run_script, synthetic_pairs, write_idx

import models
from models import GROUPS, MODELS, build_model, count_parameters

cli = load_script('test')


def run_cli(*args, env=None):
    return run_script('test.py', *args, env=env)


@pytest.mark.parametrize('args, message', [
    (['--models', 'cnn,resnet'],
     "unknown model 'resnet'; known groups: main, heads, ablation, records, "
     'course_budget_ablation, fast_ablation, reports, r000'),
    (['--models', ','], 'no model named'),
    (['--rounds', '0'], '0 is below 1'),
    (['--epochs', '-2'], "'-2': epochs must be an integer >= 1"),
    (['--epochs', 'ten'], "'ten': epochs must be an integer >= 1"),
    (['--rounds', '2.5'], "'2.5' is not an integer"),
    (['--pairs', '5'], '5 is not within 10 to 30000'),
    (['--pairs', '30001'], '30001 is not within 10 to 30000'),
    (['--lr', 'fast'], "'fast': lr must be a number above 0"),
    (['--lr', '0'], "'0': lr must be a number above 0"),
    (['--lr', 'nan'], "'nan': lr must be a number above 0"),
    (['--lr', '1e999'], "'1e999': lr must be a number above 0"),
    (['--aux_weight', '-1'], "'-1': aux_weight must be a number >= 0"),
    (['--seed', 'x'], 'invalid int value'),
    (['--optimizer', 'rmsprop'], "'rmsprop': optimizer must be one of adam, sgd"),
    (['--device', 'tpu'], "invalid choice: 'tpu'"),
    (['--out', 'results.txt'], 'must end in .json'),
    (['--out', '/no/such/folder/r.json'], 'does not exist'),
    (['--bogus'], 'unrecognized arguments'),
    (['--set', 'lr'], "'lr': expected KEY=VALUE"),
    (['--set', 'colour=red'], "unknown setting 'colour'; known: epochs, batch_size"),
    (['--set', 'epochs=0'], 'epochs must be an integer >= 1'),
    (['--set', 'epochs=2.5'], 'epochs must be an integer >= 1'),
    (['--set', 'lr=-1'], 'lr must be a number above 0'),
    (['--set', 'label_smoothing=1'], 'label_smoothing must be in [0, 1)'),
    (['--set', 'weight_decay=nan'], 'weight_decay must be a number >= 0'),
    (['--set', 'schedule=cosine'], 'schedule must be one of None, onecycle'),
    (['--set', 'swap=mirror'], 'swap must be one of None, recompute, flip'),
    (['--set', "augment={'shift': -1}"], 'augment must be None or a dict of shift'),
    (['--set', "augment={'twist': 1}"], 'augment must be None or a dict of shift'),
    (['--set', "augment={'erase': 2.5}"], 'erase: an integer'),
    (['--set', 'epochs=3', '--epochs', '4'], '--set epochs=... and --epochs both given'),
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
    for default in ['(default: 10)', "each defaults to the model's own", '(default: 25)',
                    '(default: 0)', '(default: cpu)', '$PYTORCH_DATA_DIR']:
        assert default in out, default


def test_list_shows_every_model_with_parameters(capsys):
    assert cli.main(['--list']) == 0
    lines = capsys.readouterr().out.splitlines()
    headings = [line.split()[0] for line in lines if not line.startswith(' ')]
    assert headings == [group for group in GROUPS if group != 'reports'] + ['reports']
    assert headings[:3] == ['main', 'heads', 'ablation'], "the project's own first"
    listed = [line.split()[:2] for line in lines if line.startswith('  ')]
    assert {name for name, _ in listed} == set(MODELS)
    assert len(listed) == sum(len(members) for group, members in GROUPS.items() if group != 'reports')
    for name, count in listed:
        assert int(count.replace(',', '')) == count_parameters(build_model(name)), name


def test_every_group_is_named_in_the_models_docstring():
    words = models.__doc__.replace(',', ' ').split()
    for group in GROUPS:  # r000 ... r004 are named as a range
        if not group.startswith('r00'):
            assert group in words, f'the models.py docstring leaves out {group}'


@pytest.mark.parametrize('key, value', [('epochs', '0'), ('epochs', '2.5'), ('batch_size', 'ten'),
                                        ('lr', '-1'), ('lr', 'inf'), ('aux_weight', '-0.5'),
                                        ('optimizer', 'rmsprop')])
def test_a_flag_and_set_refuse_a_value_in_the_same_words(key, value, capsys):
    rules = []
    for args in (['--' + key, value], ['--set', f'{key}={value}']):
        with pytest.raises(SystemExit):
            cli.main(args)
        rules.append(capsys.readouterr().err.strip().splitlines()[-1].rsplit("': ", 1)[1])
    assert rules[0] == rules[1] and rules[0].startswith(key + ' must be')


@pytest.mark.parametrize('script, args', [('test.py', ['--rounds', '1', '--models', 'mlp',
                                                       '--workers', '1']),
                                          ('train.py', ['mlp']), ('report.tune', ['mlp', '--workers', '1']),
                                          ('report.bench', ['--no_suite'])])
def test_every_script_explains_missing_data(script, args, tmp_path):
    # An empty folder with no network: torchvision's download fails. With a
    # network it would download MNIST, so a file stands where the mnist folder
    # should be, which no download can fix.
    (tmp_path / 'mnist').write_text('not a folder')
    result = run_script(script, *args, '--data_dir', tmp_path)
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
        assert {'params', 'train_error', 'held_out_error', 'train_time_s', 'history'} <= set(row)
        assert len(row['history']['train_error']) == epochs
        assert len(row['history'].get('held_out_error', [])) == (epochs if curves else 0)
        assert 0 <= row['held_out_error'] <= 100
    return saved


def test_small_run_on_synthetic_mnist_writes_table_and_json(fake_mnist, tmp_path):
    out = tmp_path / 'r.json'
    models = ['mlp_ws_aux', 'cnn_digits']
    result = run_cli('--data_dir', str(fake_mnist), '--rounds', '2', '--epochs', '2',
                     '--models', ','.join(models), '--out', str(out), '--quiet', '--curves',
                     '--workers', '2')  # two processes: the pool's path
    saved = check_run(result, out, models, rounds=2, epochs=2, curves=True)
    assert result.stderr == '', '--quiet prints no progress'
    assert saved['config']['command'] == (
        f'python test.py --data_dir {fake_mnist} --rounds 2 --epochs 2 --models mlp_ws_aux,cnn_digits '
        f'--out {out} --quiet --curves --workers 2')
    assert re.fullmatch(r'[0-9a-f]{40}(\+changes)?', saved['config']['commit'])
    by_round = {(r['model'], r['round']): r['seed'] for r in saved['results']}
    assert by_round == {(m, r): r for m in models for r in range(2)}
    assert [p.name for p in tmp_path.iterdir()] == ['r.json'], 'no temporary file left'


def validation_errors(data_dir, out):
    args = ['--data_dir', str(data_dir), '--rounds', '2', '--epochs', '2', '--models',
            'mlp_ws_aux,cnn_ws', '--validation', '200', '--workers', '1', '--quiet', '--out', str(out)]
    assert cli.main(args) == 0
    saved = json.loads(out.read_text())
    assert saved['config']['held_out'] == 'validation: the last 200 training pairs'
    return [(r['model'], r['train_error'], r['held_out_error'], r['held_out_digit_error'],
             r['history']) for r in saved['results']]


def test_validation_split_never_uses_the_test_pairs(fake_mnist, tmp_path, capsys):
    noisy = tmp_path / 'noisy'
    shutil.copytree(fake_mnist, noisy)
    raw = noisy / 'mnist' / 'MNIST' / 'raw'
    generator = torch.Generator().manual_seed(5)
    write_idx(raw / 't10k-images-idx3-ubyte', torch.randint(0, 256, (2000, 28, 28), generator=generator))
    write_idx(raw / 't10k-labels-idx1-ubyte', torch.randint(0, 10, (2000,), generator=generator))
    clean = validation_errors(fake_mnist, tmp_path / 'clean.json')
    assert 'val err %' in capsys.readouterr().out
    assert validation_errors(noisy, tmp_path / 'noisy.json') == clean
    # The same comparison on the test pairs sees the noise: the check can fail.
    tested = [cli.main(['--data_dir', str(folder), '--rounds', '1', '--epochs', '2', '--models',
                        'mlp_ws_aux', '--workers', '1', '--quiet', '--out', str(tmp_path / name)])
              for folder, name in ((fake_mnist, 't1.json'), (noisy, 't2.json'))]
    assert tested == [0, 0]
    test_errors = [json.loads((tmp_path / name).read_text())['results'][0]['held_out_error']
                   for name in ('t1.json', 't2.json')]
    assert test_errors[0] != test_errors[1]


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
    assert again[4]['held_out_error'] == runs[(1, 1)]['held_out_error'], 'the same fold, the same result'


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
                     '--models', ','.join(models), '--out', str(out), '--workers', '1')
    saved = check_run(result, out, models, rounds=1, epochs=1)
    digit_error = saved['results'][0]['held_out_digit_error']
    assert digit_error < 50, 'one epoch of digit losses is far better than chance (90%)'


def bench_counts_flops():
    return importlib.util.find_spec('torch.utils.flop_counter') is not None  # torch 2.1 on


def test_bench_reports_speed_and_same_errors(fake_mnist):
    result = run_script('report.bench', '--data_dir', fake_mnist, '--epochs', '3', '--repeats', '3',
                        '--no_suite', '--json')
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ('reference_s', 'project_s', 'speedup', 'ceiling_gflops'):
        assert summary[key] > 0, key
    if bench_counts_flops():
        assert summary['gflops'] > 0 and summary['gflop'] > 0
    else:  # torch 2.0: the rates are left out, and the table says why
        assert summary['gflops'] is None and 'FLOPs not counted' in result.stdout
    # The speedup is the ratio of the medians of the repeats, printed as they ran.
    repeats = [line.split() for line in result.stderr.splitlines() if line.startswith('repeat ')]
    assert [f'{t:.2f}' for t in summary['reference_times_s']] == [words[3] for words in repeats]
    assert [f'{t:.2f}' for t in summary['project_times_s']] == [words[6] for words in repeats]
    assert len(repeats) == 3
    reference = statistics.median(summary['reference_times_s'])
    project = statistics.median(summary['project_times_s'])
    assert summary['reference_s'] == reference and summary['project_s'] == project
    assert summary['speedup'] == pytest.approx(reference / project)
    assert f"speedup: {summary['speedup']:.2f}x" in result.stdout
    # Both loops train the same net from the same weights on the same pairs: they
    # learn alike, far from chance (50%), though their batch orders differ.
    reference_errors, project_errors = summary['reference_test_error'], summary['project_test_error']
    assert len(reference_errors) == len(project_errors) == 3
    assert max(reference_errors + project_errors) < 30
    assert abs(statistics.fmean(reference_errors) - statistics.fmean(project_errors)) < 5


def test_bench_records_are_medians_of_training_plus_prediction_as_ratios(monkeypatch):
    from report import bench
    times = dict(cnn_2ch=[(1.5, 0.5), (2.5, 0.5), (9.0, 1.0)],   # 2, 3, 10: median 3
                 course_budget=[(2.0, 0.4), (1.0, 0.2), (1.4, 0.1)],   # 2.4, 1.2, 1.5: median 1.5
                 best=[(29.0, 1.0), (59.0, 1.0), (39.0, 1.0)])   # median 40
    calls = []

    def fake_run_once(name, pairs, seed, overrides=None, curves=True):
        calls.append((name, seed, curves))
        train, predict = times[name][seed - 7]
        return dict(model=name, train_time_s=train, eval_time_s=predict, held_out_error=float(seed))
    monkeypatch.setattr(bench, 'GROUPS', dict(records=list(times)))
    monkeypatch.setattr(bench, 'run_once', fake_run_once)
    monkeypatch.setattr(bench, 'warm_up', lambda *args: None)
    monkeypatch.setattr(bench, 'model_settings', lambda name: {})
    monkeypatch.setattr(bench, 'draw_pairs', lambda mnist, seed: synthetic_pairs(10))
    table, records = bench.records_table(None, seed=7, repeats=3)
    assert calls[:3] == [('cnn_2ch', 7, False), ('course_budget', 7, False), ('best', 7, False)], \
        'the models alternate within a round, without curves'
    assert records == dict(cnn_2ch=3.0, course_budget=1.5, best=40.0)
    row = next(line.split() for line in table.splitlines() if line.startswith('course_budget'))
    assert row[1:] == ['8.00', '±', '1.00', '1.50', '0.50', '0.04']  # error, s, x cnn_2ch, x best


def test_set_gives_any_training_setting_to_every_model(fake_mnist, tmp_path):
    out = tmp_path / 's.json'
    args = ['--data_dir', str(fake_mnist), '--models', 'mlp_ws_aux,best', '--rounds', '1',
            '--set', 'epochs=2', '--set', "augment={'shift': 1.0}", '--set', 'schedule=None',
            '--set', 'optimizer=sgd', '--lr', '0.01', '--workers', '1', '--quiet', '--out', str(out)]
    assert cli.main(args) == 0
    saved = json.loads(out.read_text())
    for run in saved['results']:
        given = dict(epochs=2, augment=dict(shift=1.0), schedule=None, optimizer='sgd', lr=0.01)
        assert {key: run['settings'][key] for key in given} == given, run['model']
        assert saved['config']['settings'][run['model']] == run['settings']
        assert len(run['history']['train_loss']) == 2, 'the settings reach the training'
    assert saved['results'][1]['settings']['label_smoothing'] == 0.1, "best's own, where not set"


def test_group_names_select_a_report(capsys):
    args = cli.parse_args(['--models', 'r002,cnn'])
    assert args.models == ['r002_model1', 'r002_model2', 'r002_model3', 'r002_model4', 'cnn']


@pytest.mark.parametrize('script, args, message', [
    ('train.py', ['resnet'], "invalid choice: 'resnet'"),
    ('train.py', ['cnn', '--epochs', '0'], "'0': epochs must be an integer >= 1"),
    ('report.bench', ['--repeats', '0'], '0 is below 1'),
    ('report.bench', ['--epochs', 'many'], "'many' is not an integer"),
    ('report.reproduction', [], 'the following arguments are required'),
])
def test_every_script_refuses_bad_options(script, args, message):
    result = run_script(script, *args)
    assert result.returncode == 2
    assert message in result.stderr and 'Traceback' not in result.stderr
