"""Atomic results, interrupts, resume, determinism and diverging training, on synthetic MNIST."""

import json
import os

import pytest
from conftest import interrupt_after, load_script, run_script, start_script

import dlc_practical_prologue as prologue
import utils

cli = load_script('test')

# Six model-rounds; each cnn_ws_aux round trains for about half a second, so a
# Ctrl-C sent when the first one is reported always finds work left.
SMALL = ['--rounds', '3', '--epochs', '6', '--models', 'cnn_ws_aux,mlp_ws_aux', '--workers', '1']


def errors_of(path):
    results = json.loads(path.read_text())['results']
    return sorted((r['model'], r['round'], r['train_error'], r['held_out_error'],
                   r['held_out_digit_error']) for r in results)


@pytest.fixture(scope='module')
def whole_run(fake_mnist_folder, tmp_path_factory):
    """The SMALL run, uninterrupted: its results file."""
    out = tmp_path_factory.mktemp('whole') / 'whole.json'
    result = run_script('test.py', '--data_dir', fake_mnist_folder, *SMALL, '--out', out,
                        '--quiet', env={prologue.SKIP_CHECK_VARIABLE: '1'})
    assert result.returncode == 0, result.stderr
    return out


def test_atomic_write_that_fails_halfway_keeps_the_old_file(tmp_path):
    path = tmp_path / 'r.json'
    path.write_text('the old results')
    # A lone surrogate cannot be encoded: the write fails after 100,000 characters.
    with pytest.raises(UnicodeEncodeError):
        utils.write_text_atomic(str(path), 'x' * 100_000 + '\ud800')
    assert path.read_text() == 'the old results'
    assert os.listdir(tmp_path) == ['r.json'], 'no temporary file left'
    utils.write_json_atomic(str(path), {'results': [1]})
    assert json.loads(path.read_text()) == {'results': [1]}
    assert os.listdir(tmp_path) == ['r.json']


def test_ctrl_c_just_after_the_rename_leaves_the_whole_file_and_stays_a_ctrl_c(tmp_path, monkeypatch):
    # Python may deliver a Ctrl-C between the rename and the next line: the
    # KeyboardInterrupt must come out as it is (the drivers print their table
    # and exit 130), not as the error of removing a temporary file already renamed.
    path = tmp_path / 'r.json'
    path.write_text('the old results')
    rename = os.replace

    def rename_then_ctrl_c(source, target):
        rename(source, target)
        raise KeyboardInterrupt
    monkeypatch.setattr(utils.os, 'replace', rename_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        utils.write_text_atomic(str(path), 'the new results')
    assert path.read_text() == 'the new results'
    assert os.listdir(tmp_path) == ['r.json'], 'no temporary file left'


def test_same_command_gives_identical_errors(fake_mnist, whole_run, tmp_path):
    again = tmp_path / 'again.json'
    result = run_script('test.py', '--data_dir', fake_mnist, *SMALL, '--out', again, '--quiet')
    assert result.returncode == 0, result.stderr
    assert errors_of(again) == errors_of(whole_run)


def test_interrupt_keeps_completed_rounds_and_resume_finishes_identically(fake_mnist, whole_run,
                                                                          tmp_path):
    broken = tmp_path / 'broken.json'
    process = start_script('test.py', '--data_dir', fake_mnist, *SMALL, '--out', broken)
    # The start line, then the first model-round's progress line (written before it).
    out, err = interrupt_after(process, lines=2)
    assert process.returncode == 130, err
    assert 'Traceback' not in err
    saved = json.loads(broken.read_text())  # whole and valid, never half-written
    assert 1 <= len(saved['results']) < 6
    assert 'model-rounds of 6' in out and 'test err %' in out, 'the partial table is printed'

    resumed = run_script('test.py', '--data_dir', fake_mnist, *SMALL, '--resume', broken)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({len(saved['results'])} already done)" in resumed.stderr
    assert errors_of(broken) == errors_of(whole_run)
    config = json.loads(broken.read_text())['config']
    assert '--resume' not in config['command'] and config['commit']
    assert [made['command'] for made in config['resumed']] == [
        f'python test.py --data_dir {fake_mnist} {" ".join(SMALL)} --resume {broken}']
    assert [p.name for p in tmp_path.iterdir()] == ['broken.json'], 'no temporary file left'


def test_interrupt_before_the_first_model_round_writes_nothing(fake_mnist, tmp_path):
    out = tmp_path / 'r.json'
    # One model-round of 200 epochs (many seconds): the Ctrl-C comes during it.
    process = start_script('test.py', '--data_dir', fake_mnist, '--models', 'cnn_ws_aux',
                           '--rounds', '1', '--epochs', '200', '--workers', '1', '--out', out)
    stdout, stderr = interrupt_after(process, lines=1)  # the start line
    assert process.returncode == 130, stderr
    assert 'interrupted' in stderr and 'Traceback' not in stderr
    assert '0 model-rounds of 1' in stdout
    assert not out.exists() and not list(tmp_path.iterdir()), 'no file, no temporary file'


# Each option that makes a results file another run's: (option, its value in
# the resuming command, the config key that then differs).
OTHER_CONFIGS = [
    ('--models', 'cnn_ws_aux', 'models'),
    ('--rounds', '4', 'rounds'),
    ('--seed', '1', 'seed'),
    ('--pairs', '500', 'pairs'),
    ('--curves', None, 'curves'),
    ('--validation', '200', 'held_out'),
    ('--folds', '5', 'held_out'),
    ('--epochs', '7', 'settings'),
    ('--lr', '0.01', 'settings'),
    ('--batch_size', '50', 'settings'),
    ('--optimizer', 'sgd', 'settings'),
    ('--aux_weight', '0.5', 'settings'),
    ('--set', 'weight_decay=0.1', 'settings'),
]


@pytest.mark.parametrize('option, value, key', OTHER_CONFIGS, ids=[o for o, _, _ in OTHER_CONFIGS])
def test_resume_refuses_another_config(fake_mnist, whole_run, tmp_path, capsys, option, value, key):
    copy = tmp_path / 'r.json'
    copy.write_text(whole_run.read_text())
    args = ['--data_dir', str(fake_mnist), *SMALL, '--quiet', '--resume', str(copy)]
    if option in args:
        args[args.index(option) + 1] = value
    else:
        args += [option] + ([value] if value is not None else [])
    assert cli.main(args) == 2
    message = capsys.readouterr().err
    assert 'was made with other settings' in message
    assert key in message.split('(')[1].split(' differ)')[0].split(', ')
    assert copy.read_text() == whole_run.read_text(), 'the file is left as it was'


def test_resume_with_another_out_is_refused(capsys, whole_run, tmp_path):
    with pytest.raises(SystemExit) as caught:
        cli.main([*SMALL, '--resume', str(whole_run), '--out', str(tmp_path / 'other.json')])
    assert caught.value.code == 2
    assert '--resume writes into the file it resumes' in capsys.readouterr().err
    assert not (tmp_path / 'other.json').exists()


def test_resume_refuses_a_file_that_is_not_results(fake_mnist, tmp_path, capsys):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"config": {}, "results": [')
    assert cli.main(['--data_dir', str(fake_mnist), *SMALL, '--resume', str(bad)]) == 2
    assert 'not a results file' in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        cli.main(['--resume', str(tmp_path / 'missing.json')])
    assert caught.value.code == 2 and 'no such file' in capsys.readouterr().err


def test_diverging_training_is_recorded_as_failed_and_the_run_goes_on(fake_mnist, tmp_path):
    out = tmp_path / 'nan.json'
    result = run_script('test.py', '--data_dir', fake_mnist, '--rounds', '2', '--epochs', '3',
                        '--models', 'mlp_ws', '--lr', '1e30', '--workers', '1', '--out', out)
    assert result.returncode == 0, result.stderr
    assert 'round 1 mlp_ws' in result.stderr and 'round 2 mlp_ws' in result.stderr
    assert 'FAILED: the training loss became' in result.stderr and 'at epoch' in result.stderr
    rows = json.loads(out.read_text())['results']
    assert len(rows) == 2 and all('failed' in r and 'held_out_error' not in r for r in rows)
    assert '0 (+2 failed)' in result.stdout
