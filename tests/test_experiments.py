"""The study's tools: tuning (report.tune), paired effects (report.effects), figures
(report.plots); and the rounds they run (train.py)."""

import json
import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import ROOT, interrupt_after, load_script, run_script, start_script, synthetic_pairs

import train
import utils
from report import effects, plots, tune


@pytest.fixture
def run_main(capsys):
    """Run a script's main(argv) in this process (no interpreter to start):
    its exit code and what it printed, as subprocess.run gives them."""
    def run(module, *args):
        capsys.readouterr()
        try:
            code = module.main([str(arg) for arg in args])
        except SystemExit as exit:
            code = exit.code
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)
    return run


# --- tune.py -----------------------------------------------------------------

def test_grid_is_the_product_of_the_values_given():
    args = tune.parse_args(['mlp', '--lr', '1e-3,3e-3', '--optimizer', 'adam,sgd'])
    assert tune.grid(args) == [dict(lr=1e-3, optimizer='adam'), dict(lr=1e-3, optimizer='sgd'),
                               dict(lr=3e-3, optimizer='adam'), dict(lr=3e-3, optimizer='sgd')]
    assert tune.grid(tune.parse_args(['mlp'])) == [{}], 'no axis: the model\'s own setting'


def test_tuning_scores_are_the_validation_runs_only():
    runs = [dict(model='m', seed=1, held_out='fold', tag=dict(setting=0, fold=0), held_out_error=2.0),
            dict(model='m', seed=1, held_out='fold', tag=dict(setting=1, fold=0), held_out_error=3.0),
            dict(model='m', seed=1, held_out='fold', tag=dict(setting=1, fold=1), failed='nan'),
            dict(model='m', seed=1001, held_out='test', tag=dict(setting=1), held_out_error=9.0)]
    assert tune.scores_of(runs, 2) == [[2.0], [3.0]]


def test_choice_is_the_lowest_mean_overall_or_per_value():
    settings = [dict(lr=1, optimizer='adam'), dict(lr=2, optimizer='adam'),
                dict(lr=1, optimizer='sgd'), dict(lr=2, optimizer='sgd')]
    scores = [[5.0, 7.0], [4.0, 4.0], [9.0], []]
    assert tune.choose(settings, scores) == 1
    assert tune.choose(settings, scores, per='optimizer') == {'adam': 1, 'sgd': 2}


def test_folds_cover_every_training_pair_once_and_drop_the_test_pairs():
    data = synthetic_pairs(100)
    data = data._replace(test_input=torch.full_like(data.test_input, -99.0))  # marked
    held = []
    for k in range(4):
        split = data.held_out(('fold', k, 4))
        assert split.train_input.size(0) == 75 and split.test_input.size(0) == 25
        assert (split.train_input != -99).all() and (split.test_input != -99).all()
        held.append(split.test_input)
    assert torch.equal(torch.cat(held), data.train_input)
    with pytest.raises(ValueError):
        data.held_out(('fold', 4, 4))


@pytest.mark.parametrize('args, message', [
    (['resnet'], "unknown model 'resnet'"),
    (['mlp', '--lr', '0,1'], "'0': lr must be a number above 0"),
    (['mlp', '--optimizer', 'adam,rmsprop'], "'rmsprop': optimizer must be one of adam, sgd"),
    (['mlp', '--weight_decay', '0.1,-1'], "'-1': weight_decay must be a number >= 0"),
    (['mlp', '--folds', '1'], 'must be 2 to 1000'),
    (['mlp', '--folds', '5', '--validation', '100'], 'not allowed with argument'),
    (['mlp', '--validation', '1000'], 'must leave training pairs'),
    (['mlp', '--per', 'lr'], 'give the values of --lr'),
    (['mlp', '--test_rounds', '-1'], '0 or more'),
    (['mlp', '--out', 'x.txt'], 'must end in .json'),
    (['mlp', '--lr', '1e-3,1e-2', '--set', 'lr=0.1'], '--set lr=... and --lr both given'),
    (['mlp', '--set', 'epochs=zero'], 'epochs must be an integer >= 1'),
])
def test_tune_refuses_bad_input(args, message, capsys):
    with pytest.raises(SystemExit) as caught:
        tune.parse_args(args)
    assert caught.value.code == 2 and message in capsys.readouterr().err


def test_tuning_run_chooses_per_optimizer_then_tests_on_new_seeds(fake_mnist, tmp_path):
    out = tmp_path / 'tune.json'
    result = run_script('report.tune', 'mlp_ws_aux', '--data_dir', str(fake_mnist), '--epochs', '2',
                        '--lr', '1e-3,1e-2', '--optimizer', 'adam,sgd', '--per', 'optimizer',
                        '--folds', '3', '--rounds', '1', '--test_rounds', '1', '--workers', '1',
                        '--set', 'weight_decay=0.01', '--quiet', '--out', str(out))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ''
    saved = json.loads(out.read_text())
    assert saved['config']['fixed'] == dict(weight_decay=0.01)
    assert all(run['settings']['weight_decay'] == 0.01 for run in saved['results'])
    tuning = [run for run in saved['results'] if run['held_out'] == 'fold']
    tests = [run for run in saved['results'] if run['held_out'] == 'test']
    assert len(tuning) == 4 * 3, '4 settings x 3 folds x 1 round'
    assert {run['tag']['fold'] for run in tuning} == {0, 1, 2}
    assert set(saved['chosen']) == {'adam', 'sgd'}
    assert saved['settings'][saved['chosen']['sgd']]['optimizer'] == 'sgd'
    tuning_seeds = {run['seed'] for run in tuning}
    test_seeds = {run['seed'] for run in tests}
    assert len(tests) == 2 and len(saved['results']) == 14 and not tuning_seeds & test_seeds
    assert 'chosen' in result.stdout and 'test err %' in result.stdout


# --- effects.py --------------------------------------------------------------

def test_student_t_matches_published_values():
    # t_{0.975} for 1, 4, 9 and 29 degrees of freedom (any statistics table).
    for dof, value in ((1, 12.7062), (4, 2.7764), (9, 2.2622), (29, 2.0452)):
        assert effects.t_quantile(0.975, dof) == pytest.approx(value, abs=1e-4)
    assert effects.t_cdf(0.0, 5) == pytest.approx(0.5)
    assert effects.t_cdf(-2.0, 3) == pytest.approx(0.0697, abs=1e-4)


def test_sign_flip_test_is_exact_for_few_rounds():
    # All 2^4 sign patterns of (1, 1, 1, 1): only the two uniform ones reach |mean| 1.
    assert effects.sign_flip_p([1.0, 1.0, 1.0, 1.0]) == pytest.approx(2 / 16)
    assert effects.sign_flip_p([1.0, -1.0, 1.0, -1.0]) == 1.0


def t4_two_sided_p(t):
    """Two-sided p of Student's t with 4 degrees of freedom, from its closed-form CDF
    F(t) = 1/2 + 3/8 * u * (1 - u^2 / 12), u = t / sqrt(1 + t^2 / 4) (independent of
    effects.py's numerical integration)."""
    u = abs(t) / math.sqrt(1 + t * t / 4)
    return 2 * (1 - (0.5 + 3 / 8 * u * (1 - u * u / 12)))


def test_paired_effect_interval_and_p_values():
    without = [10.0, 12.0, 11.0, 13.0, 12.0]
    with_ = [8.0, 11.0, 9.0, 10.5, 10.0]
    row = effects.paired_effect(without, with_)
    # differences -2, -1, -2, -2.5, -2: mean -1.9, sample std sqrt(0.3), 4 degrees of freedom
    standard_error = math.sqrt(0.3 / 5)
    half = 2.7764 * standard_error  # t_{0.975, 4} from a table
    assert row['rounds'] == 5 and row['mean'] == pytest.approx(-1.9)
    assert row['without'] == pytest.approx(11.6) and row['with_'] == pytest.approx(9.7)
    assert row['low'] == pytest.approx(-1.9 - half, abs=5e-4)  # -2.580
    assert row['high'] == pytest.approx(-1.9 + half, abs=5e-4)  # -1.220
    assert row['t_test_p'] == pytest.approx(t4_two_sided_p(-1.9 / standard_error), rel=1e-3)  # 0.00149
    assert row['sign_flip_p'] == pytest.approx(2 / 32)
    unpaired_noise = effects.paired_effect([1.0, 2.0, 3.0], [2.0, 1.0, 3.0])
    assert unpaired_noise['low'] < 0 < unpaired_noise['high'] and unpaired_noise['t_test_p'] == 1.0


def results_file(tmp_path, errors):
    """A results file of test.py with the given {model: [test error per round]}."""
    results = [dict(model=model, round=r, held_out='test', held_out_error=e, seed=r)
               for model, values in errors.items() for r, e in enumerate(values)]
    path = tmp_path / 'r.json'
    path.write_text(json.dumps(dict(config={}, results=results)))
    return path


def test_effects_pair_the_rounds_both_models_completed(tmp_path, run_main):
    path = results_file(tmp_path, dict(cnn=[15.0, 16.0, 14.0], cnn_ws=[14.0, 15.5, 13.0]))
    result = run_main(effects, str(path), '--json')
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row['effect'] == 'weight sharing' and row['rounds'] == 3
    assert row['mean'] == pytest.approx(-2.5 / 3)
    assert not math.isnan(row['high'])


@pytest.mark.parametrize('args, message, code', [
    (['--compare', 'cnn'], 'expected WITHOUT:WITH', 2),
    (['--compare', 'mlp:nothing'], 'no comparison has both of its models', 1),
])
def test_effects_refuse_bad_input(tmp_path, args, message, code, run_main):
    path = results_file(tmp_path, dict(cnn=[15.0], mlp=[18.0]))
    result = run_main(effects, str(path), *args)
    assert result.returncode == code and message in result.stderr
    assert 'Traceback' not in result.stderr


# --- plots.py ----------------------------------------------------------------

def test_error_grid_sums_the_rounds():
    def round_result(wrong_01):
        wrong = [[0] * 10 for _ in range(10)]
        pairs = [[1] * 10 for _ in range(10)]
        wrong[0][1] = wrong_01
        return dict(model='m', round=0, held_out_mistakes=dict(wrong_by_digits=wrong,
                                                           pairs_by_digits=pairs))
    grid, rounds = plots.error_grid([round_result(1), round_result(0)], 'm')
    assert rounds == 2 and grid[0][1] == 50.0 and grid[1][0] == 0.0


def test_curves_need_a_curves_run(tmp_path, run_main):
    results = [dict(model='m', round=0, seed=0, held_out='test', held_out_error=5.0,
                    history=dict(train_loss=[1.0], train_error=[5.0]))]
    path = tmp_path / 'r.json'
    path.write_text(json.dumps(dict(config={}, results=results)))
    result = run_main(plots, 'curves', str(path), '--out', str(tmp_path))
    assert result.returncode == 1 and 'run test.py with --curves' in result.stderr


def test_figures_from_a_small_curves_run(fake_mnist, tmp_path, run_main):
    out = tmp_path / 'r.json'
    run = run_script('test.py', '--data_dir', fake_mnist, '--models', 'mlp_ws_aux,mlp',
                     '--rounds', '2', '--epochs', '2', '--curves', '--quiet', '--workers', '1',
                     '--out', out)
    assert run.returncode == 0, run.stderr
    figures = tmp_path / 'figures'
    for args in (['curves'], ['heatmap', '--model', 'mlp_ws_aux'],
                 ['mistakes', '--model', 'mlp', '--data_dir', str(fake_mnist)]):
        result = run_main(plots, args[0], str(out), *args[1:], '--out', str(figures))
        assert result.returncode == 0, result.stderr
    names = {p.name for p in figures.iterdir()}
    assert {'curves_mlp.pdf', 'curves_mlp_ws_aux.pdf', 'curves_all.pdf',
            'heatmap_mlp_ws_aux.pdf', 'mistakes_mlp.pdf'} <= names
    assert all(p.stat().st_size > 1000 for p in figures.iterdir())


def timed_results(points):
    """Results of models {name: [(train s, eval s, error %) per round]}."""
    return [dict(model=name, round=i, seed=i, held_out='test', train_time_s=train, eval_time_s=predict,
                 held_out_error=error, params=1, history={})
            for name, rounds in points.items() for i, (train, predict, error) in enumerate(rounds)]


def test_time_to_accuracy_counts_training_and_prediction_medians(tmp_path, run_main):
    results = timed_results(dict(
        cnn_2ch=[(1.0, 0.0, 17.0), (3.0, 0.0, 19.0), (2.0, 0.0, 18.0)],   # median 2 s
        best=[(19.0, 1.0, 1.0), (39.0, 1.0, 2.0), (29.0, 1.0, 0.0)],      # 20, 40, 30: median 30
        fast=[(4.0, 2.0, 1.0), (5.0, 1.0, 1.0), (6.0, 0.5, 4.0)]))        # 6, 6, 6.5: median 6
    points = plots.seconds_and_errors(results, ['cnn_2ch', 'best', 'fast'])
    assert points['best'] == (30.0, 1.0, 1.0) and points['fast'][0] == 6.0
    assert points['fast'][1:] == pytest.approx((2.0, math.sqrt(3)))
    lines = plots.time_to_accuracy_table(results, ['best', 'fast', 'cnn_2ch']).splitlines()
    assert [line.split()[0] for line in lines[2:]] == ['cnn_2ch', 'fast', 'best'], 'fastest first'
    assert lines[3].split()[-3:] == ['6.00', '3.00', '0.20']  # fast: s, x cnn_2ch, x best
    path = tmp_path / 'r.json'
    path.write_text(json.dumps(dict(config={}, results=results)))
    result = run_main(plots, 'time', str(path), '--out', str(tmp_path / 'figures'))
    assert result.returncode == 0, result.stderr
    assert lines[3] in result.stdout
    for name in ('time_to_accuracy.pdf', 'time_to_accuracy.png'):
        assert (tmp_path / 'figures' / name).stat().st_size > 1000


def test_time_to_accuracy_labels_do_not_overlap():
    matplotlib = pytest.importorskip('matplotlib')
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    # The committed records' crowded corner: near-equal times and errors.
    points = {'mlp_ws': (0.54, 16.3), 'mlp': (0.66, 17.9), 'cnn_2ch': (1.76, 17.4),
              'cnn': (2.97, 15.8), 'cnn_ws': (3.04, 14.8), 'cnn_ws_aux': (3.0, 3.45),
              'cnn_digits': (2.88, 2.95), 'cnn_aux': (3.13, 4.47), 'best': (31.9, 0.94)}
    figure, ax = plt.subplots(figsize=(4.6, 3.0))
    for x, y in points.values():
        ax.plot(x, y, 'o', ms=3)
    ax.set(xscale='log', yscale='log')
    boxes = plots.label_points(figure, ax, points)
    assert len(boxes) == len(points) == len(ax.texts)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(figure)


def test_plots_refuse_an_unknown_model(tmp_path, run_main):
    path = results_file(tmp_path, dict(cnn=[15.0]))
    result = run_main(plots, 'heatmap', str(path), '--model', 'mlp')
    assert result.returncode == 1 and "no model 'mlp'" in result.stderr


# --- train.py ---------------------------------------------------------------

def test_fewer_training_pairs_are_the_first_ones_and_the_test_pairs_stay(fake_mnist):
    full = train.round_pairs(str(fake_mnist), 5)
    assert full.train_input.shape[0] == full.test_input.shape[0] == train.PAIRS
    small = train.round_pairs(str(fake_mnist), 5, train_pairs=40)
    assert small.train_input.shape[0] == 40
    assert torch.equal(small.train_input, full.train_input[:40])
    assert torch.equal(small.train_classes, full.train_classes[:40])
    assert all(torch.equal(a, b) for a, b in zip(small[3:], full[3:])), 'the same 1000 test pairs'
    folds = train.round_pairs(str(fake_mnist), 5, ('fold', 1, 4), train_pairs=40)
    assert torch.equal(folds.test_input, small.train_input[10:20]), 'the folds split the 40'
    with pytest.raises(ValueError, match=r'^--folds 50: must be 2 to 40 \(the training pairs\)$'):
        train.held_out_sets(folds=50, train_pairs=40)
    with pytest.raises(ValueError, match='below 40'):
        train.held_out_sets(validation=40, train_pairs=40)
    assert train.held_out_sets(validation=39, train_pairs=40)[1] == [(0, ('validation', 39))]


@pytest.mark.parametrize('pairs, accepted', [('9', False), ('10', True), ('30000', True), ('30001', False),
                                             ('many', False)])
def test_the_number_of_training_pairs_is_checked(pairs, accepted, capsys):
    cli = load_script('test')
    if accepted:
        assert cli.parse_args(['--pairs', pairs]).pairs == int(pairs)
        return
    with pytest.raises(SystemExit) as caught:
        cli.parse_args(['--pairs', pairs])
    assert caught.value.code == 2
    assert 'argument --pairs' in capsys.readouterr().err


def test_a_run_on_fewer_pairs_records_them(fake_mnist, tmp_path):
    out = tmp_path / 'p.json'
    result = run_script('test.py', '--data_dir', fake_mnist, '--models', 'mlp', '--rounds', '1',
                        '--epochs', '1', '--pairs', '60', '--workers', '1', '--quiet', '--out', out)
    assert result.returncode == 0, result.stderr
    saved = json.loads(out.read_text())
    assert saved['config']['pairs'] == 60 and '60 training pairs' in result.stdout
    scored = saved['results'][0]['held_out_mistakes']['pairs_by_digits']
    assert sum(map(sum, scored)) == train.PAIRS, 'scored on the 1000 test pairs'


def test_round_pairs_are_drawn_from_the_seed_with_the_held_out_set(fake_mnist):
    full = train.round_pairs(str(fake_mnist), 5)
    again = train.round_pairs(str(fake_mnist), 5)
    assert all(torch.equal(a, b) for a, b in zip(full, again)), 'the same seed, the same pairs'
    other = train.round_pairs(str(fake_mnist), 6)
    assert not torch.equal(full.train_input, other.train_input)
    val = train.round_pairs(str(fake_mnist), 5, ('validation', 200))
    assert torch.equal(val.test_input, full.train_input[800:])
    fold = train.round_pairs(str(fake_mnist), 5, ('fold', 1, 4))
    assert torch.equal(fold.test_input, full.train_input[250:500])
    with pytest.raises(ValueError, match='unknown held-out'):
        train.round_pairs(str(fake_mnist), 5, ('bootstrap',))


def test_progress_line_estimates_the_time_left():
    result = dict(round=2, model='cnn', held_out_error=3.5, train_time_s=4.0)
    line = utils.progress_line(result, done=5, total=20, elapsed=50.0)
    assert '~  150 s left' in line and '5/20 round 3 cnn' in line and '3.5%' in line
    resumed = utils.progress_line(result, done=15, total=20, elapsed=50.0, todo=5)
    assert '~   50 s left' in resumed, 'the time per model-round counts only those run here'
    failed = utils.progress_line(dict(round=0, model='mlp', failed='NaN at epoch 3'), 1, 2, 1.0)
    assert 'FAILED: NaN at epoch 3' in failed


# --- report/make_assets.py ---------------------------------------------------

REPORT_INPUTS = ['default.json', 'curves.json', 'aux_sweep.json', 'optimizers.json',
                 'tune_lr_batch.json', 'ablation_val.json', 'ablation_test.json', 'best.json',
                 'reports.json', 'bench.txt', 'pairs/main_100.json', 'pairs/main_1000.json']


@pytest.mark.skipif(not all((ROOT / 'report' / 'results' / name).is_file() for name in REPORT_INPUTS),
                    reason='the committed results are not all here')
def test_report_assets_come_from_the_committed_results(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'report.make_assets', '--out', str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    generated = tmp_path / 'generated'
    for table in ('main', 'effects', 'sweep', 'optimizer', 'tuning', 'ablation', 'reports', 'time',
                  'course_budget_ablation', 'fast_ablation'):
        text = (generated / f'{table}_table.tex').read_text()
        assert text.count('\\\\') >= 3 and 'nan' not in text, table
    numbers = (generated / 'numbers.tex').read_text()
    assert '\\newcommand{\\bestError}' in numbers and '\\newcommand{\\benchSpeedup}' in numbers
    main_table = (generated / 'main_table.tex').read_text()
    assert 'cnn\\_ws\\_aux' in main_table and '3.5 $\\pm$ 0.6' in main_table
    assert (tmp_path / 'figures' / 'curves_all.pdf').stat().st_size > 1000
    assert (tmp_path / 'figures' / 'time_to_accuracy.pdf').stat().st_size > 1000
    assert '\\newcommand{\\recordFastRatio}' in numbers
    assert (tmp_path / 'figures' / 'data_size_column.pdf').stat().st_size > 1000
    assert '\\newcommand{\\sizeSmall}{100}' in numbers and '\\newcommand{\\sizeAuxCnnSmall}{-11.1}' in numbers


def test_effects_pair_rounds_by_seed_across_files(tmp_path, run_main):
    first = tmp_path / 'a.json'
    second = tmp_path / 'b.json'
    first.write_text(json.dumps(dict(config={}, results=[
        dict(model='best', round=r, seed=10 + r, held_out='test', held_out_error=e)
        for r, e in enumerate([1.0, 2.0, 3.0])])))
    second.write_text(json.dumps(dict(config={}, results=[  # only seeds 11 and 12, as rounds 0, 1
        dict(model='lean', round=r, seed=11 + r, held_out='test', held_out_error=e)
        for r, e in enumerate([2.5, 3.5])])))
    result = run_main(effects, str(first), str(second), '--against', 'best', '--json')
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row['effect'] == 'lean' and row['rounds'] == 2 and row['mean'] == pytest.approx(0.5)


def test_effects_pair_folds_of_the_same_round(tmp_path, run_main):
    path = tmp_path / 'folds.json'
    errors = dict(best=[1.0, 2.0, 1.5, 1.0], lean=[1.5, 2.0, 2.5, 1.5])  # (seed, fold) in order
    keys = [(10, 0), (10, 1), (11, 0), (11, 1)]
    path.write_text(json.dumps(dict(
        config=dict(held_out='2-fold cross-validation of the training pairs'),
        results=[dict(model=m, round=seed - 10, seed=seed, tag=dict(fold=fold), held_out='fold',
                      held_out_error=e,
                      held_out_digit_error=2 * e if m == 'best' else None)
                 for m, values in errors.items() for (seed, fold), e in zip(keys, values)]
        + [dict(model='wide', round=0, seed=10, tag=dict(fold=0), held_out='fold', held_out_error=1.0,
                held_out_digit_error=1.0)])))
    result = run_main(effects, str(path), '--against', 'best', '--json')
    row = next(row for row in json.loads(result.stdout) if row['with_model'] == 'lean')
    assert (row['fits'], row['rounds'], row['folds']) == (4, 2, 2) and row['mean'] == pytest.approx(0.5)
    table = run_main(effects, str(path), '--against', 'best').stdout
    assert 'val err %' in table and 'test err %' not in table and '4 = 2x2' in table
    assert 'the corrected resampled t (Nadeau and Bengio' in table
    assert 'no p below 2/2^R (0.50 for 2),\nso under 6 rounds it is left out (-).' in table
    digits = run_main(effects, str(path), '--against', 'best', '--digits', '--json')
    (row,) = json.loads(digits.stdout)  # lean has no digit outputs: left out
    assert row['with_model'] == 'wide' and row['fits'] == 1 and row['mean'] == pytest.approx(-1.0)


# Two rounds of five folds: differences -0.5, 0, -1, -0.5, -0.5 | 0, -1, -0.5, 0, -1 (mean -0.5,
# s = 0.408). The pinned numbers come from scipy, outside effects.py:
#   se = s * sqrt(1/10 + 1/4); half = scipy.stats.t.ppf(0.975, 9) * se;
#   p = 2 * scipy.stats.t.sf(0.5 / se, 9)
# which gives [-1.046, +0.046], p = 0.068; the naive se = s / sqrt(10) gave [-0.792, -0.208],
# p = 0.004, an interval that wrongly excludes 0.
FOLD_WITHOUT = [2.0, 1.5, 2.5, 1.0, 2.0, 1.5, 2.0, 3.0, 1.5, 2.0]
FOLD_WITH = [1.5, 1.5, 1.5, 0.5, 1.5, 1.5, 1.0, 2.5, 1.5, 1.0]


def fold_runs(errors, seeds, folds):
    """Fold runs of {model: [error per (seed, fold), seed-major]}."""
    keys = [(seed, fold) for seed in seeds for fold in range(folds)]
    return [dict(model=model, round=seed - seeds[0], seed=seed, tag=dict(fold=fold), held_out='fold',
                 held_out_error=e, held_out_digit_error=e / 2, folds=folds)
            for model, values in errors.items() for (seed, fold), e in zip(keys, values)]


def test_fold_intervals_are_the_corrected_resampled_t():
    row = effects.paired_effect(FOLD_WITHOUT, FOLD_WITH, rounds_of=[7] * 5 + [8] * 5, folds=5)
    assert round(row['low'], 3) == -1.046 and round(row['high'], 3) == 0.046
    assert round(row['t_test_p'], 3) == 0.068
    assert (row['fits'], row['rounds'], row['folds']) == (10, 2, 5)
    assert math.isnan(row['sign_flip_p']), '2 rounds: no sign-flip p'
    naive = effects.paired_effect(FOLD_WITHOUT, FOLD_WITH)  # the same numbers as 10 test rounds
    assert round(naive['low'], 3) == -0.792 and round(naive['high'], 3) == -0.208
    assert round(naive['t_test_p'], 3) == 0.004
    runs = fold_runs(dict(a=FOLD_WITHOUT, b=FOLD_WITH), [7, 8], 5)
    (row,) = effects.effects(runs, [('a vs b', 'a', 'b')])
    assert round(row['low'], 3) == -1.046 and round(row['t_test_p'], 3) == 0.068
    (digits,) = effects.effects(runs, [('a vs b', 'a', 'b')], 'held_out_digit_error')
    assert round(digits['low'], 3) == round(-1.046 / 2, 3) and round(digits['t_test_p'], 3) == 0.068


def test_fold_sign_flip_flips_whole_rounds():
    # Six rounds of two folds; round means -1 (five rounds) and +0.5: the patterns with
    # |sum| >= 4.5 are the five -1s alike (2 ways) times the 0.5 either way: 4 of 64.
    differences = [-1.5, -0.5] * 5 + [0.0, 1.0]
    row = effects.paired_effect([0.0] * 12, differences, rounds_of=[r for r in range(6) for _ in '12'],
                                folds=2)
    assert row['rounds'] == 6 and row['sign_flip_p'] == pytest.approx(4 / 64)
    assert effects.sign_flip_p(differences) != pytest.approx(4 / 64), 'flipping folds differs'


def test_fold_count_reads_the_description_that_rounds_writes():
    assert effects.fold_count(dict(held_out=train.held_out_sets(folds=7)[0])) == 7
    assert effects.fold_count(dict(held_out=train.held_out_sets(validation=200)[0])) is None
    assert effects.fold_count(dict(held_out='5-fold cross-validation')) == 5  # older files
    assert effects.fold_count({}) is None


def test_effects_refuse_to_pool_different_fold_counts(tmp_path, run_main):
    runs = fold_runs(dict(a=[1.0, 2.0], b=[2.0, 2.0]), [1], 2) + fold_runs(
        dict(a=[1.0, 2.0, 1.0], b=[2.0, 2.0, 1.0]), [2], 3)
    path = tmp_path / 'mixed.json'
    path.write_text(json.dumps(dict(config={}, results=runs)))
    result = run_main(effects, str(path), '--compare', 'a:b')
    assert result.returncode == 1 and 'compare them one K at a time' in result.stderr
    assert 'Traceback' not in result.stderr


def test_effects_read_tuning_settings_as_models(tmp_path, run_main):
    tuned = tmp_path / 'tune.json'
    tuned.write_text(json.dumps(dict(
        config=dict(model='best', held_out='2-fold cross-validation of the training pairs'),
        settings=[dict(lr=0.1), dict(lr=0.2, epochs=3)],
        results=[dict(model='best', round=0, seed=10, tag=dict(setting=i, fold=fold),
                      held_out='fold', held_out_error=1.0 + i + fold)
                 for i in range(2) for fold in range(2)])))
    base = tmp_path / 'base.json'
    base.write_text(json.dumps(dict(config={}, results=[
        dict(model='best', round=0, seed=10, tag=dict(fold=fold), held_out='fold', held_out_error=1.0)
        for fold in range(2)])))
    result = run_main(effects, str(base), str(tuned), '--against', 'best', '--json')
    assert result.returncode == 0, result.stderr
    rows = {row['with_model']: row for row in json.loads(result.stdout)}
    assert set(rows) == {'best (lr 0.1)', 'best (lr 0.2, epochs 3)'}
    assert rows['best (lr 0.2, epochs 3)']['mean'] == pytest.approx(1.5)
    broken = tmp_path / 'broken.json'
    broken.write_text(json.dumps(dict(config=dict(model='best'), settings=[], results=[
        dict(model='best', seed=1, held_out='fold', tag=dict(setting=0), held_out_error=1.0)])))
    refused = run_main(effects, str(broken))
    assert refused.returncode == 1 and 'not a results file' in refused.stderr
    assert 'Traceback' not in refused.stderr


def test_effects_mix_test_and_fold_runs_of_one_seed():
    runs = [dict(model=m, seed=1, held_out='test', held_out_error=e) for m, e in (('a', 1.0), ('b', 2.0))]
    runs += [dict(model=m, seed=1, held_out='fold', tag=dict(fold=0), held_out_error=e)
             for m, e in (('a', 1.0), ('b', 3.0))]
    test_row, fold_row = effects.effects(runs, [('a vs b', 'a', 'b')])
    assert test_row['effect'] == 'a vs b' and test_row['rounds'] == 1 and 'fits' not in test_row
    assert test_row['mean'] == pytest.approx(1.0)
    assert fold_row['effect'] == 'a vs b (folds)' and fold_row['fits'] == 1
    assert fold_row['mean'] == pytest.approx(2.0)


def test_shared_mistakes_count_the_pairs_other_models_also_get_wrong(tmp_path, run_main):
    wrong = {('best', 0): [1, 2, 3], ('best', 1): [7], ('lean', 0): [2, 3, 9], ('lean', 1): [],
             ('wide', 0): [3], ('wide', 1): [7], ('wide', 2): [5]}  # run 2: wide only, left out
    path = tmp_path / 'r.json'
    path.write_text(json.dumps(dict(config={}, results=[
        dict(model=m, round=0, seed=10, tag=dict(fold=fold), held_out='fold', held_out_error=1.0,
             held_out_mistakes=dict(wrong_pairs=pairs)) for (m, fold), pairs in wrong.items()])))
    runs, overlap, in_all = effects.shared_mistakes(json.loads(path.read_text())['results'], 'best')
    assert (runs, overlap, in_all) == (2, dict(lean=2, wide=2, best=4), 1)
    result = run_main(effects, str(path), '--shared_mistakes', 'best')
    assert result.returncode == 0, result.stderr
    assert 'best errs on 4 held-out pairs in the 2 runs that all 3 models completed' in result.stdout
    assert 'wrong in every model: 1 (25%)' in result.stdout
    missing = run_main(effects, str(path), '--shared_mistakes', 'nothing')
    assert missing.returncode == 1 and 'no such model' in missing.stderr


def test_ctrl_c_during_tuning_prints_the_partial_table_and_exits_130(fake_mnist, tmp_path):
    out = tmp_path / 'tune.json'
    # 9 runs of about a second each on two workers: the Ctrl-C, sent when the
    # first is reported (the line after the one naming the workers), finds
    # several seconds of work left.
    process = start_script('report.tune', 'cnn_ws_aux', '--data_dir', fake_mnist, '--lr',
                           '1e-3,2e-3,3e-3', '--epochs', '10', '--rounds', '3', '--workers', '2',
                           '--out', out)
    stdout, stderr = interrupt_after(process, lines=2)
    assert process.returncode == 130, stderr
    assert 'Traceback' not in stderr
    assert 'interrupted' in stderr and 'validation err %' in stdout
    saved = json.loads(out.read_text())  # whole and valid
    assert 1 <= len(saved['results']) < 9 and saved['chosen'] is None
    assert [p.name for p in tmp_path.iterdir()] == ['tune.json'], 'no temporary file left'


def test_effects_leave_failed_runs_out(tmp_path, run_main):
    path = tmp_path / 'r.json'
    results = [dict(model=m, round=r, seed=r, held_out='test', held_out_error=e)
               for m, values in dict(cnn=[15.0, 16.0, 14.0], cnn_ws=[14.0, 15.5, 13.0]).items()
               for r, e in enumerate(values)]
    results[4] = dict(model='cnn_ws', round=1, seed=1, held_out='test',
                      failed='the training loss became nan')
    path.write_text(json.dumps(dict(config={}, results=results)))
    result = run_main(effects, path, '--json')
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row['rounds'] == 2 and row['mean'] == pytest.approx(-1.0), 'rounds 0 and 2 only'
    assert row['without'] == pytest.approx(14.5)


def test_plots_without_matplotlib_exit_1_with_a_message(tmp_path):
    path = results_file(tmp_path, dict(cnn=[15.0]))
    # As if matplotlib were not installed: its import fails.
    hide = ("import runpy, sys; sys.modules['matplotlib'] = None; sys.argv[0] = 'report.plots'; "
            "runpy.run_module('report.plots', run_name='__main__', alter_sys=True)")
    result = subprocess.run([sys.executable, '-c', hide, 'heatmap',
                             str(path), '--model', 'cnn', '--out', str(tmp_path / 'figures')],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 1, result.stderr
    assert 'the figures need matplotlib' in result.stderr and 'pip install matplotlib' in result.stderr
    assert 'Traceback' not in result.stderr and not (tmp_path / 'figures').exists()


# --- the data-size curves (plots.py pairs) -------------------------------------

def size_file(tmp_path, pairs, errors, held_out='test', name='main'):
    """A results file of test.py --pairs `pairs` with {model: [test error per round]}."""
    results = [dict(model=model, round=r, held_out=held_out, held_out_error=e, seed=5000 + r)
               for model, values in errors.items() for r, e in enumerate(values)]
    path = tmp_path / f'{name}_{pairs}.json'
    path.write_text(json.dumps(dict(config=dict(pairs=pairs), results=results)))
    return path


def test_data_size_curves_pair_the_rounds_of_each_size(tmp_path, run_main):
    small = size_file(tmp_path, 100, dict(mlp=[40.0, 42.0, 41.0], mlp_aux=[30.0, 29.0, 34.0]))
    large = size_file(tmp_path, 5000, dict(mlp=[10.0, 11.0, 9.0], mlp_aux=[9.0, 10.5, 9.0]))
    sizes = plots.by_size([utils.load_results(large), utils.load_results(small)])
    assert [n for n, _ in sizes] == [100, 5000], 'smallest first, whatever the order given'
    ((n, (row,)), (m, (other,))) = plots.size_effects(sizes, ['mlp', 'mlp_aux'])
    assert (n, m) == (100, 5000) and row['effect'] == 'aux loss, mlp' and row['rounds'] == 3
    assert row['mean'] == pytest.approx((-10 - 13 - 7) / 3) and other['mean'] == pytest.approx(-0.5)
    expected = effects.effects(sizes[0][1], [('aux loss, mlp', 'mlp', 'mlp_aux')])[0]
    assert (row['low'], row['high']) == (expected['low'], expected['high'])
    table = plots.data_size_table(sizes, ['mlp', 'mlp_aux'])
    (mlp_line,) = [line for line in table.splitlines() if line.startswith('mlp ')]
    assert mlp_line.split()[1:] == ['41.0', '±', '1.0', '(3)', '10.0', '±', '1.0', '(3)']
    assert f"aux loss, mlp    100       3  -10.00  [{row['low']:+.2f}, {row['high']:+.2f}]" in table
    with pytest.raises(ValueError, match='at 100 training pairs hold mlp, mlp_aux'):
        plots.by_size([utils.load_results(small), utils.load_results(small)])
    # best's file of one size joins the main one; its rounds pair by seed, not by order.
    best = size_file(tmp_path, 100, dict(best=[5.0, 6.0]), name='best')
    saved = utils.load_results(best)
    saved['results'].reverse()
    ((n, runs),) = plots.by_size([utils.load_results(small), saved])
    assert n == 100 and len(runs) == 8
    (vs_best,) = effects.effects(runs, [('best', 'mlp_aux', 'best')])
    assert vs_best['rounds'] == 2 and vs_best['mean'] == pytest.approx(((5 - 30) + (6 - 29)) / 2)
    with pytest.raises(ValueError, match='scored on the test pairs'):
        plots.by_size([utils.load_results(size_file(tmp_path, 250, dict(mlp=[1.0]), held_out='fold'))])
    refused = run_main(plots, 'curves', str(small), str(large))
    assert refused.returncode == 2 and 'curves takes one results file' in refused.stderr
    pytest.importorskip('matplotlib')
    drawn = run_main(plots, 'pairs', str(small), str(large), '--out', str(tmp_path / 'figures'))
    assert drawn.returncode == 0, drawn.stderr
    assert (tmp_path / 'figures' / 'data_size.pdf').is_file() and 'paired effects' in drawn.stdout
