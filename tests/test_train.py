"""The training loop on synthetic pairs: it learns, it is seeded, it keeps the test set out."""

import pytest
import torch
from conftest import synthetic_pairs
from torch import nn

import train
from models import build_model

FAST = dict(epochs=8, batch_size=50, lr=1e-3, optimizer='adam', aux_weight=1.0)


@pytest.mark.parametrize('name', ['mlp_ws_aux', 'cnn', 'cnn_2ch', 'cnn_digits'])
def test_short_training_lowers_the_loss(name):
    data = synthetic_pairs(200).normalised()
    torch.manual_seed(0)
    model = build_model(name)
    before, _ = train.evaluate(model, data.train_input, data.train_target,
                               data.train_classes, aux_weight=1.0)
    history = train.train(model, data, generator=torch.Generator().manual_seed(0), **FAST)
    after, _ = train.evaluate(model, data.train_input, data.train_target,
                              data.train_classes, aux_weight=1.0)
    assert after < 0.7 * before
    assert history['train_loss'][-1] < history['train_loss'][0]
    assert all(len(v) == FAST['epochs'] for v in history.values())


def test_sgd_trains_too():
    data = synthetic_pairs(200).normalised()
    torch.manual_seed(0)
    model = build_model('mlp_ws_aux')
    settings = dict(FAST, optimizer='sgd', lr=0.05)
    history = train.train(model, data, generator=torch.Generator().manual_seed(0), **settings)
    assert history['train_loss'][-1] < 0.7 * history['train_loss'][0]


def test_loss_is_target_plus_weighted_digit_losses():
    torch.manual_seed(0)
    model = build_model('mlp_ws_aux')
    pair_logits, digit_logits = torch.randn(8, 2), torch.randn(8, 2, 10)
    target, classes = torch.randint(0, 2, (8,)), torch.randint(0, 10, (8, 2))
    ce = torch.nn.functional.cross_entropy
    expected = (ce(pair_logits, target)
                + 0.3 * (ce(digit_logits[:, 0], classes[:, 0]) + ce(digit_logits[:, 1], classes[:, 1])))
    loss = train.pair_loss(model, (pair_logits, digit_logits), target, classes, aux_weight=0.3)
    torch.testing.assert_close(loss, expected)


def test_digit_classifier_trains_on_digit_labels_only():
    model = build_model('cnn_digits')
    pair_logits, digit_logits = torch.randn(8, 2), torch.randn(8, 2, 10)
    classes = torch.randint(0, 10, (8, 2))
    a = train.pair_loss(model, (pair_logits, digit_logits), torch.zeros(8, dtype=torch.long),
                        classes, 1.0)
    b = train.pair_loss(model, (pair_logits, digit_logits), torch.ones(8, dtype=torch.long),
                        classes, 1.0)
    torch.testing.assert_close(a, b)


def test_evaluate_restores_the_training_mode():
    data = synthetic_pairs(20)
    model = build_model('cnn_ws_aux').train()
    train.evaluate(model, data.test_input, data.test_target, data.test_classes, 1.0)
    assert model.training
    model.eval()
    train.evaluate(model, data.test_input, data.test_target, data.test_classes, 1.0)
    assert not model.training


def test_normalisation_uses_training_statistics_only():
    data = synthetic_pairs(50)
    shifted = data._replace(test_input=data.test_input + 100.0).normalised()
    plain = data.normalised()
    assert torch.equal(shifted.train_input, plain.train_input)
    assert abs(float(plain.train_input.mean())) < 1e-4
    assert abs(float(plain.train_input.std()) - 1) < 1e-4


def test_run_once_is_reproducible_and_reports_metrics():
    data = synthetic_pairs(100)
    overrides = dict(epochs=2)
    first = train.run_once('cnn_ws_aux', data, seed=7, overrides=overrides)
    second = train.run_once('cnn_ws_aux', data, seed=7, overrides=overrides)
    for key in ('train_error', 'held_out_error', 'held_out_digit_error', 'history', 'params'):
        assert first[key] == second[key], key
    assert 0 <= first['held_out_error'] <= 100
    # Both timed; their order is not asserted: on a loaded machine it varies (speed is
    # the benchmark's to check, not a unit test's).
    assert first['train_time_s'] > 0 and first['eval_time_s'] > 0
    other = train.run_once('cnn_ws_aux', data, seed=8, overrides=overrides)
    assert other['history'] != first['history'], 'another seed gives another run'


def test_mistakes_account_for_every_test_error():
    data = synthetic_pairs(100)
    result = train.run_once('mlp_ws_aux', data, seed=1, overrides=dict(epochs=1))
    mistakes = result['held_out_mistakes']
    n_test = data.test_target.size(0)
    wrong = len(mistakes['wrong_pairs'])
    assert 100.0 * wrong / n_test == pytest.approx(result['held_out_error'])
    assert sum(map(sum, mistakes['wrong_by_digits'])) == wrong
    assert sum(map(sum, mistakes['pairs_by_digits'])) == n_test
    for i in mistakes['wrong_pairs']:
        a, b = data.test_classes[i].tolist()
        assert mistakes['wrong_by_digits'][a][b] >= 1
    assert len(mistakes['digits_read']) == wrong


def test_test_pairs_do_not_influence_training():
    """Scrambled test labels and noise for test inputs change no trained weight
    (nor a BatchNorm statistic), though the test pairs are evaluated after
    every epoch (curves); on cnn_aux and on best, with its augmentation,
    dropout, BatchNorm, one-cycle rate and test-time averaging."""
    data = synthetic_pairs(100)
    corrupted = data._replace(test_input=torch.randn_like(data.test_input) * 500,
                              test_target=1 - data.test_target,
                              test_classes=data.test_classes.flip(1))
    for name in ('cnn_aux', 'best'):
        settings = train.model_settings(name, dict(epochs=2))
        states = []
        for pairs in (data, corrupted):
            torch.manual_seed(3)
            model = build_model(name)
            train.train(model, pairs.normalised(), generator=torch.Generator().manual_seed(3),
                        curves=True, **settings)
            states.append(model.state_dict())
        assert all(torch.equal(states[0][k], states[1][k]) for k in states[0]), name


def test_run_once_trains_alike_whatever_the_test_pairs():
    data = synthetic_pairs(100)
    corrupted = data._replace(test_input=torch.randn_like(data.test_input) * 500,
                              test_target=1 - data.test_target)
    runs = [train.run_once('best', d, seed=2, overrides=dict(epochs=2), curves=False)
            for d in (data, corrupted)]
    assert runs[0]['history'] == runs[1]['history']
    assert runs[0]['train_error'] == runs[1]['train_error']
    assert runs[0]['held_out_error'] != runs[1]['held_out_error'], 'the test pairs are read, at the end'


def test_validation_split_holds_out_training_pairs_only():
    data = synthetic_pairs(100)
    data = data._replace(test_input=torch.full_like(data.test_input, -99.0))  # marked
    split = data.held_out(('validation', 30))
    assert split.train_input.shape[0] == 70 and split.test_input.shape[0] == 30
    assert (split.train_input != -99).all() and (split.test_input != -99).all()
    assert torch.equal(split.train_input, data.train_input[:70])
    assert torch.equal(split.train_target, data.train_target[:70])
    assert torch.equal(split.train_classes, data.train_classes[:70])
    assert torch.equal(split.test_input, data.train_input[70:])
    assert torch.equal(split.test_target, data.train_target[70:])
    assert torch.equal(split.test_classes, data.train_classes[70:])
    with pytest.raises(ValueError):
        data.held_out(('validation', 100))


def test_curves_flag_adds_test_history():
    data = synthetic_pairs(50).normalised()
    model = build_model('mlp')
    history = train.train(model, data, curves=False, **dict(FAST, epochs=2))
    assert set(history) == {'train_loss', 'train_error'}
    history = train.train(model, data, curves=True, **dict(FAST, epochs=2))
    assert len(history['held_out_error']) == 2


def test_settings_layering():
    assert train.model_settings('cnn') == train.DEFAULTS
    assert train.model_settings('cnn', dict(epochs=3)) == dict(train.DEFAULTS, epochs=3)
    best = train.model_settings('best')
    assert best['epochs'] == 60 and best['schedule'] == 'onecycle', "the model's own"
    assert train.model_settings('best', dict(schedule=None, epochs=2)) == \
        dict(best, schedule=None, epochs=2), 'then the command\'s, None included'


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match='adam'):
        train.make_optimizer('rmsprop', build_model('mlp').parameters(), 0.1)


def test_swap_augmentation_recomputes_or_flips_the_target():
    data = synthetic_pairs(50)
    data = data._replace(train_classes=torch.tensor([[3, 3], [2, 7], [7, 2]] + [[1, 1]] * 47),
                         train_target=torch.tensor([1, 1, 0] + [1] * 47))
    right = data.doubled_by_swapping('recompute')
    wrong = data.doubled_by_swapping('flip')
    assert right.train_input.shape[0] == 100
    assert torch.equal(right.train_input[50:], data.train_input.flip(1))
    assert right.train_target[50:53].tolist() == [1, 0, 1], 'equal digits stay 1'
    assert wrong.train_target[50:53].tolist() == [0, 0, 1], "report 003's flip breaks equal digits"
    with pytest.raises(ValueError):
        data.doubled_by_swapping('mirror')


def test_target_weight_scales_the_pair_loss():
    model = build_model('mlp_ws_aux')
    outputs = (torch.randn(8, 2), torch.randn(8, 2, 10))
    target, classes = torch.randint(0, 2, (8,)), torch.randint(0, 10, (8, 2))
    digits_only = train.pair_loss(model, outputs, target, classes, 1.0, target_weight=0.0)
    full = train.pair_loss(model, outputs, target, classes, 1.0, target_weight=1.0)
    tenth = train.pair_loss(model, outputs, target, classes, 1.0, target_weight=0.1)
    torch.testing.assert_close(tenth - digits_only, 0.1 * (full - digits_only))


def test_random_warp_moves_each_image_and_is_seeded():
    data = synthetic_pairs(20)
    x = data.train_input[:8]
    a = train.random_warp(x, torch.Generator().manual_seed(1), shift=2, rotate=10, scale=0.1)
    b = train.random_warp(x, torch.Generator().manual_seed(1), shift=2, rotate=10, scale=0.1)
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.allclose(a, x)
    still = train.random_warp(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(still, x, atol=1e-3, rtol=1e-4)  # no move: the identity


def test_elastic_warp_is_local_and_bounded():
    x = torch.zeros(1, 2, 14, 14)
    x[0, :, 6:8, 6:8] = 1.0  # one bright 2x2 square per image
    bent = train.random_warp(x, torch.Generator().manual_seed(3), elastic=1.0)
    assert not torch.allclose(bent, x, atol=1e-3)
    # Moved by at most one pixel: nothing lands two or more pixels from the square.
    far = torch.ones(14, 14, dtype=torch.bool)
    far[4:10, 4:10] = False
    assert bent[0, :, far].abs().max() < 1e-6
    assert not torch.equal(bent[0, 0], bent[0, 1])  # each image draws its own field


def test_erase_sets_one_square_per_image_to_its_background():
    x = torch.rand(5, 2, 14, 14) + 1.0  # every pixel above the background of 1.0 ...
    x[:, :, 0, 0] = 1.0                 # ... but one
    erased = train.erased_squares(x.view(10, 1, 14, 14), 4, torch.Generator().manual_seed(4))
    erased = erased.view_as(x)
    square = erased == 1.0
    assert torch.all((erased == x) | square), "only set to the image's lowest value"
    square[:, :, 0, 0] = False
    for image in square.view(10, 14, 14):  # a 4x4 square, maybe over the lowest pixel itself
        rows, cols = image.nonzero().unbind(1)
        assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
        assert len(rows) in (15, 16)
    corners = {tuple(square[i, j].nonzero()[0].tolist()) for i in range(5) for j in range(2)}
    assert len(corners) > 3, 'each image draws its own place'
    moved = train.random_warp(x, torch.Generator().manual_seed(4), shift=1, erase=4)
    moved_only = train.random_warp(x, torch.Generator().manual_seed(4), shift=1)
    assert torch.equal((moved != moved_only).sum(dim=(2, 3)) <= 16, torch.ones(5, 2, dtype=torch.bool))
    assert not torch.equal(moved, moved_only), 'random_warp erases after moving'


def test_weight_decay_shrinks_the_weights_of_a_model_without_gradient():
    model = nn.Linear(3, 3, bias=False)
    (model.weight.sum() * 0).backward()  # zero gradients: only the decay moves the weights
    before = model.weight.detach().clone()
    for name in ('adam', 'sgd'):
        optimizer = train.make_optimizer(name, model.parameters(), 0.1, weight_decay=0.5)
        optimizer.step()
        assert model.weight.abs().sum() < before.abs().sum(), name
        before = model.weight.detach().clone()
    plain = train.make_optimizer('adam', model.parameters(), 0.1)
    plain.step()
    assert torch.equal(model.weight, before), 'no decay by default'


def test_onecycle_schedule_and_label_smoothing_train():
    data = synthetic_pairs(100).normalised()
    torch.manual_seed(0)
    model = build_model('cnn_digits')
    history = train.train(model, data, **dict(FAST, epochs=15, lr=3e-3, schedule='onecycle',
                                              label_smoothing=0.1,
                                              augment=dict(shift=1, rotate=5, scale=0.05)))
    assert history['train_loss'][-1] < 0.7 * history['train_loss'][0]
    assert train.digit_error(train.eval_outputs(model, data.train_input)[1], data.train_classes) < 30
    with pytest.raises(ValueError, match='onecycle'):
        train.train(model, data, **dict(FAST, schedule='cosine'))


def test_ensemble_members_train_one_after_another_on_their_own_draws():
    import copy

    import models
    data = synthetic_pairs(100).normalised()
    torch.manual_seed(0)
    member = lambda: models.PairNet(models.mlp_tower, head=models.ProbabilityComparison)  # noqa: E731
    ensemble = models.Ensemble(member, 2)
    first, second = copy.deepcopy(list(ensemble.members))
    settings = dict(FAST, epochs=2, augment=dict(shift=1))
    history = train.train(ensemble, data, generator=torch.Generator().manual_seed(5), **settings)
    # By hand: the first member, then the second with the same generator going on.
    generator = torch.Generator().manual_seed(5)
    first_history = train.train(first, data, generator=generator, **settings)
    second_history = train.train(second, data, generator=generator, **settings)
    for trained, expected in zip(ensemble.members, (first, second)):
        for a, b in zip(trained.state_dict().values(), expected.state_dict().values()):
            assert torch.equal(a, b)
    for key, values in history.items():
        assert values == pytest.approx([(a + b) / 2 for a, b in
                                        zip(first_history[key], second_history[key])])
    # The second member's draws are its own: the first member's would train it otherwise.
    again = copy.deepcopy(second)
    train.train(again, data, generator=torch.Generator().manual_seed(5), **settings)
    assert not torch.equal(again.towers[0][1].weight, ensemble.members[1].towers[0][1].weight)
