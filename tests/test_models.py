"""The model family: registry, shapes, weight sharing, forward and backward."""

import pytest
import torch
from torch import nn

import models
from models import GROUPS, MODELS, build_model, count_parameters

REQUIRED = ['mlp', 'mlp_ws', 'mlp_aux', 'mlp_ws_aux', 'cnn', 'cnn_ws', 'cnn_aux', 'cnn_ws_aux',
            'cnn_2ch', 'cnn_digits']


def test_required_models_are_registered():
    assert set(REQUIRED) <= set(MODELS)


@pytest.mark.parametrize('name', list(MODELS))
def test_forward_and_backward(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = torch.randn(6, 2, 14, 14)
    pair_logits, digit_logits = model(x)
    assert pair_logits.shape == (6, 2)
    if name in REQUIRED:
        assert getattr(model, 'aux', False) == (name.endswith('_aux') or name == 'cnn_digits')
    if getattr(model, 'aux', False):
        assert digit_logits.shape == (6, 2, 10)
        loss = (pair_logits * torch.randn(6, 2)).sum() + (digit_logits * torch.randn(6, 2, 10)).sum()
    else:
        assert digit_logits is None
        loss = (pair_logits * torch.randn(6, 2)).sum()
    loss.backward()  # random weights: normalised outputs (log-probabilities) still carry a gradient
    exceptions = biases_before_batchnorm(model)
    for parameter_name, parameter in model.named_parameters():
        grad = parameter.grad
        assert grad is not None and torch.isfinite(grad).all(), parameter_name
        if parameter_name in exceptions:  # zero but for rounding: BatchNorm removes any shift
            assert grad.abs().max() < 1e-4, parameter_name
        else:
            assert grad.abs().max() > 1e-5, f'{parameter_name} learns nothing'


def biases_before_batchnorm(model):
    """Names of the biases of layers that a BatchNorm directly follows: their
    gradient is zero in exact arithmetic, the one known exception."""
    names = set()
    for prefix, module in model.named_modules():
        children = list(module.named_children()) if isinstance(module, nn.Sequential) else []
        for (name, layer), (_, following) in zip(children, children[1:]):
            if isinstance(following, nn.modules.batchnorm._BatchNorm) and \
                    getattr(layer, 'bias', None) is not None:
                names.add(f'{prefix}.{name}.bias'.lstrip('.'))
    return names


# The counts README.md states (the main table and best's headline).
PUBLISHED_COUNTS = dict(mlp=170_710, mlp_aux=170_710, mlp_ws=86_092, mlp_ws_aux=86_092,
                        cnn=145_926, cnn_aux=145_926, cnn_ws=73_700, cnn_ws_aux=73_700,
                        cnn_2ch=70_906, cnn_digits=72_226, best=93_634)


@pytest.mark.parametrize('name', PUBLISHED_COUNTS)
def test_parameter_counts_are_the_published_ones(name):
    assert count_parameters(build_model(name)) == PUBLISHED_COUNTS[name]


def test_readme_model_table_states_the_parameter_counts():
    import re

    from conftest import ROOT
    rows = re.findall(r'^\| `(\w+)` \| ([\d,]+) \|', (ROOT / 'README.md').read_text(), re.M)
    assert len(rows) >= 10
    for name, count in rows:
        assert int(count.replace(',', '')) == count_parameters(build_model(name)), name


@pytest.mark.parametrize('encoder', ['mlp', 'cnn'])
def test_weight_sharing_halves_the_tower_parameters(encoder):
    separate, shared = build_model(encoder), build_model(encoder + '_ws')
    assert count_parameters(separate.towers) == 2 * count_parameters(shared.towers)
    assert count_parameters(separate.comparison) == count_parameters(shared.comparison)


@pytest.mark.parametrize('base', ['mlp', 'mlp_ws', 'cnn', 'cnn_ws'])
def test_auxiliary_loss_changes_the_loss_not_the_architecture(base):
    assert count_parameters(build_model(base)) == count_parameters(build_model(base + '_aux'))


def test_shared_tower_treats_both_images_alike():
    torch.manual_seed(0)
    model = build_model('cnn_ws_aux').eval()
    x = torch.randn(5, 2, 14, 14)
    _, digits = model(x)
    _, swapped_digits = model(x.flip(1))
    torch.testing.assert_close(digits, swapped_digits.flip(1))


def test_two_channel_baseline_has_course_reference_size():
    assert count_parameters(build_model('cnn_2ch')) == 70_906  # report 002, Table 1


def test_cnn_family_is_comparable_to_the_course_reference():
    for name in ['cnn_ws', 'cnn_ws_aux', 'cnn_digits', 'cnn_2ch']:
        assert 60_000 <= count_parameters(build_model(name)) <= 80_000, name


def test_argmax_comparison_compares_predicted_digits():
    digit_logits = torch.full((4, 2, 10), -5.0)
    for row, (a, b) in enumerate([(3, 5), (5, 3), (7, 7), (0, 9)]):
        digit_logits[row, 0, a] = digit_logits[row, 1, b] = 5.0
    decision = models.ArgmaxComparison()(digit_logits).argmax(1)
    assert decision.tolist() == [1, 0, 1, 1]


def test_digit_classifier_learns_no_comparison():
    model = build_model('cnn_digits')
    assert not model.learns_comparison and count_parameters(model.comparison) == 0


def test_unknown_model_lists_known_ones():
    with pytest.raises(KeyError, match='cnn_ws_aux'):
        build_model('resnet')


def test_bench_reference_is_the_same_model_as_cnn_2ch():
    from report import bench
    assert count_parameters(bench.ReferenceNet()) == count_parameters(build_model('cnn_2ch'))


def test_groups_name_registered_models_the_projects_first():
    assert sorted(GROUPS['main']) == sorted(REQUIRED)
    assert all(set(members) <= set(MODELS) for members in GROUPS.values())
    names = list(MODELS)
    assert names[:len(REQUIRED)] == GROUPS['main'], 'the main comparison first'
    first_report = min(names.index(n) for n in GROUPS['reports'])
    assert names[first_report:] == GROUPS['reports'], "the reports' systems last"


def test_probability_comparison_is_exact():
    torch.manual_seed(0)
    logits = torch.randn(5, 2, 10)
    p = logits.softmax(2)
    expected = torch.tensor([sum(p[n, 0, i] * p[n, 1, j] for i in range(10) for j in range(i, 10))
                             for n in range(5)])
    pair_logits = models.ProbabilityComparison()(logits)
    torch.testing.assert_close(pair_logits.exp()[:, 1], expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pair_logits.exp().sum(1), torch.ones(5))


def test_probability_comparison_on_certain_digits():
    logits = torch.full((3, 2, 10), -30.0)
    for row, (a, b) in enumerate([(4, 4), (4, 5), (5, 4)]):
        logits[row, 0, a] = logits[row, 1, b] = 30.0
    assert models.ProbabilityComparison()(logits).argmax(1).tolist() == [1, 1, 0]


def test_shift_averaged_tower_averages_probabilities_in_eval_mode_only():
    torch.manual_seed(0)
    tower = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(196, 10))
    averaged = models.ShiftAveraged(tower)
    x = torch.randn(3, 1, 14, 14)
    torch.testing.assert_close(averaged.train()(x), tower(x))
    out = averaged.eval()(x)
    expected = torch.stack([tower(torch.roll(x, s, dims=(2, 3))).softmax(1)
                            for s in models.ShiftAveraged.SHIFTS]).mean(0)
    torch.testing.assert_close(out.exp(), expected)


def test_ensemble_compares_its_members_mean_digit_probabilities():
    torch.manual_seed(0)
    member = lambda: models.PairNet(models.mlp_tower, head=models.ProbabilityComparison)  # noqa: E731
    ensemble = models.Ensemble(member, 3).eval()
    x = torch.randn(4, 2, 14, 14)
    pair_logits, digits = ensemble(x)
    mean = torch.stack([m(x)[1].softmax(-1) for m in ensemble.members]).mean(0)
    torch.testing.assert_close(digits.exp(), mean)
    torch.testing.assert_close(pair_logits, models.ProbabilityComparison()(mean.log()))
    assert not torch.allclose(ensemble.members[0](x)[1], ensemble.members[1](x)[1]), \
        'members start from their own weights'


@pytest.mark.parametrize('record', ['course_budget', 'fast'])
def test_record_ablation_changes_one_ingredient_each(record):
    def kinds(name):
        return {type(m).__name__ for m in build_model(name).modules()}
    settings = MODELS[record].settings
    changed = {variant: {k for k in settings if MODELS[variant].settings[k] != settings[k]}
               for variant in GROUPS[f'{record}_ablation'][1:]}
    assert changed == {f'{record}_no_batchnorm': set(), f'{record}_no_augment': {'augment'},
                       f'{record}_no_smoothing': {'label_smoothing'},
                       f'{record}_batch_100': {'batch_size'}, f'{record}_best_rate': {'lr'},
                       f'{record}_{"no_tta" if record == "fast" else "tta"}': set()}
    assert 'BatchNorm2d' in kinds(record) and 'BatchNorm2d' not in kinds(f'{record}_no_batchnorm')
    tta = 'ShiftAveraged' in kinds(record)
    assert tta == (record == 'fast')
    switched = f'{record}_no_tta' if tta else f'{record}_tta'
    assert ('ShiftAveraged' in kinds(switched)) != tta
    assert ('ShiftAveraged' in kinds(f'{record}_no_batchnorm')) == tta
    assert MODELS[f'{record}_batch_100'].settings['batch_size'] == 100
    assert MODELS[f'{record}_best_rate'].settings['lr'] == models.BEST['lr']


def test_the_ensemble_record_is_eight_fast_models():
    ensemble = build_model('fast_ensemble')
    assert len(ensemble.members) == 8
    layers = lambda model: [repr(m) for m in model.modules()]  # noqa: E731
    assert all(layers(m) == layers(build_model('fast')) for m in ensemble.members)
    assert MODELS['fast_ensemble'].settings == MODELS['fast'].settings
