"""--unseen: digit combinations kept out of the training pairs, and nothing else changed."""

import json

import pytest
import torch
from conftest import load_script, synthetic_pairs

import train

cli = load_script('test')
SPECS = ['7:*', '3:5,5:3', '*:0,1:*']


def cells_of(classes):
    return {tuple(pair) for pair in classes.tolist()}


@pytest.mark.parametrize('spec', SPECS)
def test_the_training_pairs_skip_the_unseen_cells_and_the_test_pairs_stay(fake_mnist, spec):
    unseen = train.unseen_cells(spec)
    for seed in (0, 1, 2):
        every = train.round_pairs(str(fake_mnist), seed, train_pairs=1000)  # all the fake MNIST holds
        kept = [i for i, pair in enumerate(every.train_classes.tolist()) if pair not in unseen]
        for n in (40, 300):
            pairs = train.round_pairs(str(fake_mnist), seed, train_pairs=n, unseen=unseen)
            assert pairs.train_input.shape[0] == n
            assert not cells_of(pairs.train_classes) & {tuple(cell) for cell in unseen}
            # As drawn without --unseen, the excluded pairs skipped, in the same order.
            assert torch.equal(pairs.train_input, every.train_input[kept[:n]])
            assert torch.equal(pairs.train_classes, every.train_classes[kept[:n]])
            assert all(torch.equal(a, b) for a, b in zip(pairs[3:], every[3:])), 'the same test pairs'


def test_folds_and_validation_split_the_remaining_pairs(fake_mnist):
    unseen = train.unseen_cells('7:*')
    for held_out in (('fold', 1, 4), ('validation', 30)):
        pairs = train.round_pairs(str(fake_mnist), 5, held_out, train_pairs=120, unseen=unseen)
        assert pairs.train_input.shape[0] + pairs.test_input.shape[0] == 120
        assert (pairs.train_classes[:, 0] != 7).all() and (pairs.test_classes[:, 0] != 7).all()


@pytest.mark.parametrize('spec, cells', [
    ('7:*', [[7, d] for d in range(10)]),
    ('5:3, 3:5,3:5', [[3, 5], [5, 3]]),
    ('*:9,9:*', sorted([[d, 9] for d in range(10)] + [[9, d] for d in range(9)])),
])
def test_a_spec_expands_to_its_sorted_combinations(spec, cells):
    assert train.unseen_cells(spec) == cells


@pytest.mark.parametrize('args, message', [
    (['--unseen', '12:3'], "argument --unseen: '12:3': each item is A:B, A and B a digit 0-9 or *"),
    (['--unseen', '7'], "argument --unseen: '7': each item is A:B"),
    (['--unseen', '7:x'], "argument --unseen: '7:x': each item is A:B"),
    (['--unseen', '7:*,'], "argument --unseen: '7:*,': each item is A:B"),
    (['--unseen', '*:*'], "argument --unseen: '*:*': keeps every digit combination out of training"),
])
def test_a_bad_spec_is_refused_in_one_line(args, message, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(args)
    assert caught.value.code == 2 and message in capsys.readouterr().err


def test_too_few_pairs_left_is_refused_before_training(fake_mnist, tmp_path, capsys):
    out = tmp_path / 'r.json'
    args = ['--data_dir', str(fake_mnist), '--models', 'mlp', '--rounds', '1', '--epochs', '1',
            '--workers', '1', '--quiet', '--out', str(out)]
    assert cli.main(args + ['--pairs', '950', '--unseen', '7:*']) == 2
    err = capsys.readouterr().err
    assert 'error: --unseen: only' in err and 'fewer than 950' in err and 'Traceback' not in err
    assert not out.exists(), 'no results file is begun'


def test_the_run_records_the_combinations_and_each_round_its_training_counts(fake_mnist, tmp_path):
    out = tmp_path / 'r.json'
    args = ['--data_dir', str(fake_mnist), '--models', 'mlp,cnn_digits', '--rounds', '2',
            '--epochs', '1', '--pairs', '100', '--folds', '4', '--workers', '1', '--quiet',
            '--unseen', '7:*,3:5', '--out', str(out)]
    assert cli.main(args) == 0
    saved = json.loads(out.read_text())
    assert saved['config']['unseen'] == [[3, 5]] + [[7, d] for d in range(10)]
    for run in saved['results']:
        counts = torch.tensor(run['train_pairs_by_digits'])
        assert counts.sum() == 75 and counts[7].sum() == 0 and counts[3, 5] == 0, 'the 3 folds that train'
    # Resumed with another --unseen: refused; with the same: nothing left to train.
    assert cli.main(args[:-4] + ['--unseen', '7:*', '--resume', str(out)]) == 2
    assert cli.main(args[:-2] + ['--resume', str(out)]) == 0
    assert json.loads(out.read_text())['results'] == saved['results']


def test_a_run_without_unseen_resumes_a_file_of_before(fake_mnist, tmp_path):
    out = tmp_path / 'r.json'
    args = ['--data_dir', str(fake_mnist), '--models', 'mlp', '--rounds', '1', '--epochs', '1',
            '--pairs', '50', '--workers', '1', '--quiet', '--out', str(out)]
    assert cli.main(args) == 0
    saved = json.loads(out.read_text())
    assert 'unseen' not in saved['config'], 'files without --unseen keep their config'
    assert cli.main(args[:-2] + ['--resume', str(out)]) == 0


def test_misread_digits_are_counted_by_combination_and_place():
    data = synthetic_pairs(60)
    torch.manual_seed(0)
    digit_logits = torch.randn(60, 2, 10)
    outputs = (torch.randn(60, 2), digit_logits)
    found = train.mistakes(outputs, data.test_target, data.test_classes)['misread_by_digits']
    misread = digit_logits.argmax(2) != data.test_classes
    for place in (0, 1):
        grid = torch.tensor(found[place])
        assert grid.sum() == misread[:, place].sum()
        for (a, b), wrong in zip(data.test_classes.tolist(), misread[:, place].tolist()):
            assert grid[a, b] >= wrong
    assert train.mistakes((outputs[0], None), data.test_target, data.test_classes)[
        'misread_by_digits'] is None


def fake_run(model, seed, wrong, pairs=None, misread=None):
    """A completed test run whose mistakes are the given 10x10 grids."""
    pairs = pairs or [[10] * 10 for _ in range(10)]
    return dict(model=model, seed=seed, round=0, held_out='test', held_out_error=0.0,
                held_out_mistakes=dict(wrong_by_digits=wrong, pairs_by_digits=pairs,
                                       misread_by_digits=misread))


def grid(value_at, default=0):
    return [[value_at.get((a, b), default) for b in range(10)] for a in range(10)]


def test_the_unseen_study_pairs_each_round_with_its_seed_without_exclusion():
    from report import unseen
    cells = [[7, d] for d in range(10)]
    first = {(7, d): 5 for d in range(10)}  # half the 7-first test pairs wrong with the exclusion
    files = [
        dict(config=dict(unseen=cells), results=[
            fake_run('cnn', 1, grid(first), misread=[grid(first), grid({})]),
            fake_run('cnn_ws', 1, grid({(7, 0): 10}), misread=[grid({}), grid({})])]),
        dict(config=dict(unseen=[[3, d] for d in range(10)]), results=[
            fake_run('cnn', 2, grid({(3, 3): 10})),
            fake_run('cnn_ws', 2, grid({}), misread=[grid({}), grid({})])]),
        dict(config={}, results=[fake_run(m, s, grid({(0, 0): 10}), misread=[grid({}), grid({})])
                                 for m in ('cnn', 'cnn_ws') for s in (1, 2)]),
    ]
    rounds = unseen.design_rounds(files)
    assert [seed for seed, _, _ in rounds['cnn']] == [1, 2]
    with_, without = rounds['cnn'][0][1], rounds['cnn'][0][2]
    assert with_['excluded'] == 50.0 and without['excluded'] == 0.0, "the seed's own cells"
    assert with_['misread'] == 50.0 and without['misread'] == 0.0
    assert without['rest'] == 100.0 * 10 / 900, 'the other cells of the same test pairs'
    assert rounds['cnn'][1][1]['excluded'] == 10.0 and rounds['cnn'][1][1]['misread'] is None
    result = unseen.summary(rounds)
    assert result['models']['cnn']['cost']['mean'] == (50.0 + 10.0) / 2
    assert 'misread_cost' not in result['models']['cnn'], 'a round without digit outputs'
    assert result['models']['cnn_ws']['misread_cost']['mean'] == 0.0
    sharing = next(e for e in result['effects'] if e['effect'] == 'weight sharing, cnn')
    assert sharing['rounds'] == 2 and sharing['mean'] == ((10.0 - 50.0) + (0.0 - 10.0)) / 2
    with pytest.raises(ValueError, match='two --unseen sets'):
        unseen.design_rounds(files + [dict(config=dict(unseen=[[1, 1]]),
                                           results=[fake_run('mlp', 1, grid({}))])])
    with pytest.raises(ValueError, match='given twice'):
        unseen.design_rounds(files + files[2:])
