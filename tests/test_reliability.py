"""Interrupts, resume, determinism and diverging training, on synthetic MNIST."""

import json
import signal
import subprocess
import sys
import time

from conftest import ROOT

SMALL = ['--rounds', '3', '--epochs', '2', '--models', 'mlp_ws_aux,mlp', '--workers', '1']


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, str(ROOT / 'test.py'), *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=600, **kwargs)


def errors_of(path):
    results = json.loads(path.read_text())['results']
    return sorted((r['model'], r['round'], r['train_error'], r['test_error'],
                   r['test_digit_error']) for r in results)


def test_same_command_gives_identical_errors(fake_mnist, tmp_path):
    first, second = tmp_path / 'a.json', tmp_path / 'b.json'
    for out in (first, second):
        assert cli('--data_dir', str(fake_mnist), *SMALL, '--out', str(out)).returncode == 0
    assert errors_of(first) == errors_of(second)


def test_interrupt_keeps_completed_rounds_and_resume_finishes_identically(fake_mnist, tmp_path):
    whole, broken = tmp_path / 'whole.json', tmp_path / 'broken.json'
    assert cli('--data_dir', str(fake_mnist), *SMALL, '--out', str(whole)).returncode == 0

    process = subprocess.Popen([sys.executable, str(ROOT / 'test.py'), '--data_dir',
                                str(fake_mnist), *SMALL, '--out', str(broken)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 300
    while not broken.exists() and time.time() < deadline:  # the first model-round is written
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert 'Traceback' not in err
    saved = json.loads(broken.read_text())  # whole and valid, never half-written
    assert 1 <= len(saved['results']) < 6
    assert 'model-rounds of 6' in out and 'test err %' in out, 'the partial table is printed'

    resumed = cli('--data_dir', str(fake_mnist), *SMALL, '--resume', str(broken))
    assert resumed.returncode == 0, resumed.stderr
    assert errors_of(broken) == errors_of(whole)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith('.tmp')]


def test_resume_refuses_another_config(fake_mnist, tmp_path):
    out = tmp_path / 'r.json'
    assert cli('--data_dir', str(fake_mnist), *SMALL, '--out', str(out)).returncode == 0
    other = [a if a != '2' else '3' for a in SMALL]  # other epochs
    result = cli('--data_dir', str(fake_mnist), *other, '--resume', str(out))
    assert result.returncode == 2
    assert 'settings differ' in result.stderr and 'Traceback' not in result.stderr


def test_resume_refuses_a_file_that_is_not_results(fake_mnist, tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"config": {}, "results": [')
    result = cli('--data_dir', str(fake_mnist), *SMALL, '--resume', str(bad))
    assert result.returncode == 2
    assert 'not a results file' in result.stderr and 'Traceback' not in result.stderr
    missing = cli('--resume', str(tmp_path / 'missing.json'))
    assert missing.returncode == 2 and 'no such file' in missing.stderr


def test_diverging_training_is_recorded_as_failed_and_the_run_goes_on(fake_mnist, tmp_path):
    out = tmp_path / 'nan.json'
    result = cli('--data_dir', str(fake_mnist), '--rounds', '2', '--epochs', '3',
                 '--models', 'mlp_ws', '--lr', '1e30', '--workers', '1', '--out', str(out))
    assert result.returncode == 0, result.stderr
    assert 'round 1 mlp_ws' in result.stderr and 'round 2 mlp_ws' in result.stderr
    assert 'FAILED: the training loss became' in result.stderr and 'at epoch' in result.stderr
    rows = json.loads(out.read_text())['results']
    assert len(rows) == 2 and all('failed' in r and 'test_error' not in r for r in rows)
    assert '0 (+2 failed)' in result.stdout
