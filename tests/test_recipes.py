"""The recipes of `best` and of the time-to-accuracy records (course_budget, fast,
fast_ensemble): the size and the place of every ingredient.

test_models.py and test_train.py check that each ingredient exists; these tests
pin how large it is (the moves of the training digits, the label smoothing of
each loss, the test-time views, the one-cycle schedule, the dropout, the head,
the ensemble, the settings) and where it acts (training batches only, every
loss, every batch). The recipe's values are written here literally: they are
the recipe. Everything is measured on small synthetic data, against quantities
computed in the test, with tolerances.
"""

import inspect
import math

import pytest
import torch
import torch.nn.functional as F
from conftest import synthetic_pairs
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

import models
import train
from models import build_model

RECORDS = ('course_budget', 'fast', 'fast_ensemble')
NAMES = ('best',) + RECORDS
MOVES = dict(shift=1.5, rotate=12.0, scale=0.1)  # pixels, degrees, fraction: the same for all four
# name: (epochs, pairs per batch, peak learning rate)
RECIPES = dict(best=(60, 100, 3e-3), course_budget=(12, 50, 2e-2), fast=(35, 50, 1e-2),
               fast_ensemble=(35, 50, 1e-2))
# The image and its four one-pixel shifts (rows, columns), as torch.roll moves them.
VIEWS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))
SIZE = 14
MIDDLE = (SIZE - 1) / 2  # the image's centre, in pixels


# --- Helpers -------------------------------------------------------------------

def tiny_pair_model():
    """A stand-in with best's head, for tests where only the training loop matters."""
    return models.PairNet(lambda: nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, models.DIGITS)),
                          head=models.ProbabilityComparison)


def single_models(model):
    """The pair models that train.train trains one by one: an ensemble's members, else the model."""
    return list(model.members) if hasattr(model, 'members') else [model]


def smoothed_cross_entropy(logits, target, smoothing):
    """Cross-entropy with label smoothing, written out: (1 - e) * NLL of the label
    + e * the mean NLL over all classes, averaged over the batch."""
    log_p = logits.log_softmax(-1)
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    uniform = -log_p.mean(-1)
    return ((1 - smoothing) * nll + smoothing * uniform).mean()


def probability_first_le_second(digits):
    """P(first <= second) from digit scores (N, 2, 10), summed pair by pair."""
    p = digits.double().softmax(-1)
    lesser_or_equal = torch.tensor([[1.0 if i <= j else 0.0 for j in range(10)] for i in range(10)],
                                   dtype=torch.float64)
    return torch.einsum('ni,ij,nj->n', p[:, 0], lesser_or_equal, p[:, 1])


def blob(n, x, y, sigma=0.8):
    """n pairs of one small Gaussian blob centred at pixel (x, y), exactly 0 away from it."""
    r = torch.arange(SIZE, dtype=torch.float32)
    image = torch.exp(-((r[None, :] - x) ** 2 + (r[:, None] - y) ** 2) / (2 * sigma ** 2))
    image = torch.where(image > 1e-3, image, torch.zeros(()))
    return image.expand(n, 2, SIZE, SIZE).clone()


def centroids(images):
    """(x, y) centroid of each image, in pixels from the image's centre."""
    images = images.reshape(-1, SIZE, SIZE).double()
    r = torch.arange(SIZE, dtype=torch.float64)
    mass = images.sum((1, 2))
    x = (images * r).sum((1, 2)) / mass
    y = (images * r[:, None]).sum((1, 2)) / mass
    return torch.stack((x, y), 1) - MIDDLE


def nearest(pairs, pool):
    """For each pair of `pairs`, its distance to the nearest pair of `pool`."""
    distances = torch.cdist(pairs.flatten(1), pool.flatten(1), compute_mode='donot_use_mm_for_euclid_dist')
    return distances.min(1).values


class Moves:
    """The affine matrices random_warp hands to affine_grid, read as moves:
    translation in pixels (x, y), rotation in degrees, zoom factor."""

    def __init__(self, thetas, sizes):
        self.theta = torch.cat(thetas).double()
        self.count = self.theta.size(0)
        linear = self.theta[:, :, :2]
        # a rotation times a zoom: [[c, -s], [s, c]] / zoom
        torch.testing.assert_close(linear[:, 0, 0], linear[:, 1, 1])
        torch.testing.assert_close(linear[:, 0, 1], -linear[:, 1, 0])
        assert all(size[-1] == size[-2] == SIZE for size in sizes)
        # affine_grid's units (align_corners=False): the image spans [-1, 1], SIZE pixels
        self.shift = self.theta[:, :, 2] * SIZE / 2
        self.rotate = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0]))
        self.zoom = 1 / linear[:, 0].norm(dim=1)


@pytest.fixture
def captured_moves(monkeypatch):
    """Every call of affine_grid (as train's random_warp makes them) recorded."""
    thetas, sizes = [], []
    original = F.affine_grid

    def spy(theta, size, *args, **kwargs):
        thetas.append(theta.detach().clone())
        sizes.append(list(size))
        return original(theta, size, *args, **kwargs)

    monkeypatch.setattr(F, 'affine_grid', spy)
    return lambda: Moves(thetas, sizes) if thetas else None


# --- Settings ------------------------------------------------------------------

@pytest.mark.parametrize('name', NAMES)
def test_recipe_settings(name):
    """Each recipe's training settings, literally: Adam, the one-cycle rate, smoothing 0.1,
    best's moves, and each record's epochs, batch and peak rate."""
    epochs, batch_size, lr = RECIPES[name]
    settings = train.model_settings(name)
    recipe = {key: settings[key] for key in ('epochs', 'batch_size', 'lr', 'optimizer', 'schedule',
                                            'label_smoothing', 'augment', 'aux_weight',
                                            'target_weight', 'weight_decay', 'swap')}
    assert recipe == dict(epochs=epochs, batch_size=batch_size, lr=pytest.approx(lr, rel=1e-12),
                          optimizer='adam', schedule='onecycle',
                          label_smoothing=pytest.approx(0.1, rel=1e-12),
                          augment=dict(shift=1.5, rotate=12.0, scale=0.1),
                          aux_weight=1.0, target_weight=1.0, weight_decay=0.0, swap=None)


def test_recipe_towers():
    """best: one shared BatchNorm tower (24 and 48 channels, 128 hidden), test-time averaged;
    the records: the course CNN with BatchNorm (72,818 parameters), averaged in fast only."""
    best = build_model('best')
    assert best.share and len(best.towers) == 1 and isinstance(best.towers[0], models.ShiftAveraged)
    convs = [m.out_channels for m in best.modules() if isinstance(m, nn.Conv2d)]
    linears = [(m.in_features, m.out_features) for m in best.modules() if isinstance(m, nn.Linear)]
    assert convs == [24, 24, 48, 48] and linears == [(48 * 9, 128), (128, 10)]
    for name, averaged in (('course_budget', False), ('fast', True)):
        model = build_model(name)
        assert model.share and len(model.towers) == 1
        assert isinstance(model.towers[0], models.ShiftAveraged) == averaged, name
        assert models.count_parameters(model) == 72_818, name
        assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2, name
        assert sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()) == 1, name


@pytest.mark.parametrize('name', NAMES)
def test_run_once_trains_each_recipe_with_its_settings(name, monkeypatch):
    """run_once hands the recipe's settings to train (shortened here to one epoch)."""
    calls = []
    original = train.train

    def spy(model, data, **settings):
        calls.append(dict(settings))
        return original(model, data, **dict(settings, epochs=1))

    monkeypatch.setattr(train, 'train', spy)
    result = train.run_once(name, synthetic_pairs(100), seed=0, curves=False)
    epochs, batch_size, lr = RECIPES[name]
    for settings in (calls[-1], result['settings']):
        assert settings['epochs'] == epochs and settings['batch_size'] == batch_size
        assert settings['lr'] == pytest.approx(lr, rel=1e-12)
        assert settings['schedule'] == 'onecycle' and settings['optimizer'] == 'adam'
        assert settings['label_smoothing'] == pytest.approx(0.1, rel=1e-12)
        assert settings['augment'] == MOVES


# --- The random moves of the training digits -----------------------------------

def test_random_warp_moves_are_pixels_degrees_and_fractions(captured_moves):
    """Read off the images: a translation of t pixels (per affine_grid's matrix) moves a
    blob's centroid by t pixels, a rotation of a degrees turns an off-centre blob by a
    degrees about the centre, a zoom z moves it z times as far; and the recipe's sizes
    (1.5 pixels, 12 degrees, 10%) give moves that reach them."""
    generator = torch.Generator().manual_seed(0)
    centred = blob(200, MIDDLE, MIDDLE)
    moved = train.random_warp(centred, generator, shift=MOVES['shift'])
    moves = captured_moves()
    displacement = centroids(moved) - centroids(centred)
    assert moves.count == 400
    torch.testing.assert_close(displacement, -moves.shift, atol=1e-3, rtol=0)
    assert 0.9 * 1.5 < displacement.abs().max(0).values.min() <= 1.5 + 1e-3

    off_centre = blob(200, MIDDLE + 3.5, MIDDLE)
    before = centroids(off_centre)
    turned = centroids(train.random_warp(off_centre, generator, rotate=MOVES['rotate']))
    moves = captured_moves()
    turn = torch.rad2deg(torch.atan2(turned[:, 1], turned[:, 0]) - torch.atan2(before[:, 1], before[:, 0]))
    torch.testing.assert_close(turn, -moves.rotate[-400:], atol=0.5, rtol=0)
    assert 0.9 * 12 < turn.abs().max() <= 12.5

    zoomed = centroids(train.random_warp(off_centre, generator, scale=MOVES['scale']))
    moves = captured_moves()
    ratio = zoomed.norm(dim=1) / before.norm(dim=1)
    torch.testing.assert_close(ratio, moves.zoom[-400:], atol=0.03, rtol=0)
    assert ratio.min() < 0.93 and ratio.max() > 1.07


def test_random_warp_moves_each_image_within_its_bounds(captured_moves):
    """Every image draws its own shift (x and y), rotation and zoom, uniformly over the
    whole range: +-1.5 pixels, +-12 degrees, 1 +- 0.1."""
    train.random_warp(torch.zeros(500, 2, SIZE, SIZE), torch.Generator().manual_seed(1), **MOVES)
    moves = captured_moves()
    assert moves.count == 1000
    for values, bound in ((moves.shift[:, 0], 1.5), (moves.shift[:, 1], 1.5), (moves.rotate, 12.0),
                          (moves.zoom - 1, 0.1)):
        assert values.abs().max() <= bound * (1 + 1e-4)
        assert values.min() < -0.95 * bound and values.max() > 0.95 * bound
        assert abs(float(values.mean())) < 0.1 * bound  # centred
        assert values.unique().numel() == moves.count  # one draw per image


@pytest.mark.parametrize('name', NAMES)
def test_training_moves_span_the_recipe(name, captured_moves):
    """Training the recipe's model (one epoch) moves every training digit, and only those,
    by up to 1.5 pixels, 12 degrees and 10% of scale, reaching those bounds."""
    data = synthetic_pairs(200).normalised()
    torch.manual_seed(0)
    model = build_model(name)
    settings = train.model_settings(name, dict(epochs=1))
    train.train(model, data, generator=torch.Generator().manual_seed(0), curves=True, **settings)
    moves = captured_moves()
    members = len(single_models(model))
    assert moves is not None and moves.count == members * 2 * 200, \
        'each training digit once per epoch; the held-out pairs are not moved'
    for values, bound in ((moves.shift[:, 0], 1.5), (moves.shift[:, 1], 1.5), (moves.rotate, 12.0),
                          (moves.zoom - 1, 0.1)):
        assert values.abs().max() <= bound * (1 + 1e-4), name
        assert values.abs().max() > 0.9 * bound, name


def test_train_one_warps_training_batches_only(monkeypatch):
    """The model trains on the moved batch (what grid_sample returned), every batch, and
    is evaluated on the held-out pairs as they are."""
    data = synthetic_pairs(130).normalised()
    warped = []
    original = F.grid_sample

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        warped.append(out.detach().clone())
        return out

    monkeypatch.setattr(F, 'grid_sample', spy)
    torch.manual_seed(0)
    model = build_model('best')
    seen = []
    model.register_forward_pre_hook(
        lambda module, args: seen.append((module.training, len(warped), args[0].detach().clone())))
    epochs = 2
    settings = train.model_settings('best', dict(epochs=epochs))
    train.train(model, data, generator=torch.Generator().manual_seed(0), curves=True, **settings)
    training = [(count, x) for mode, count, x in seen if mode]
    assert len(training) == epochs * math.ceil(130 / 100)
    assert len(warped) == len(training) and sum(w.size(0) for w in warped) == epochs * 2 * 130
    for index, (count, x) in enumerate(training):
        assert count == index + 1, 'one warp just before each training step'
        assert torch.equal(x, warped[index].view_as(x)), 'the model sees the moved batch'
        assert nearest(x, data.train_input).min() > 1e-3, 'no pair left unmoved'
    evaluated = [x for mode, _, x in seen if not mode]
    assert evaluated, 'held-out curves are measured'
    raw = torch.cat((data.test_input, data.train_input))
    for x in evaluated:
        assert nearest(x, raw).max() == 0, 'evaluated as they are'


# --- Label smoothing -----------------------------------------------------------

def test_pair_loss_smooths_the_pair_and_each_digit_loss():
    """pair_loss = target_weight * CE_e(pair) + aux_weight * (CE_e(digit 1) + CE_e(digit 2)),
    every cross-entropy with the same smoothing e, each checked on its own; a fixed head
    (best's) leaves the digit losses alone."""
    torch.manual_seed(0)
    pair_logits, digit_logits = torch.randn(16, 2) * 3, torch.randn(16, 2, 10) * 3
    target, classes = torch.randint(0, 2, (16,)), torch.randint(0, 10, (16, 2))
    outputs = (pair_logits, digit_logits)
    learned = build_model('mlp_ws_aux')
    assert learned.learns_comparison
    for e in (0.1, 0.3):
        pair = smoothed_cross_entropy(pair_logits, target, e)
        digits = (smoothed_cross_entropy(digit_logits[:, 0], classes[:, 0], e)
                  + smoothed_cross_entropy(digit_logits[:, 1], classes[:, 1], e))
        assert not torch.allclose(pair, smoothed_cross_entropy(pair_logits, target, 0.0))
        assert not torch.allclose(digits, smoothed_cross_entropy(digit_logits.view(-1, 10),
                                                                 classes.view(-1), 0.0) * 2)

        def loss(model, e=e, **weights):
            return train.pair_loss(model, outputs, target, classes, label_smoothing=e, **weights)

        torch.testing.assert_close(loss(learned, aux_weight=0.0), pair)
        torch.testing.assert_close(loss(learned, aux_weight=1.0, target_weight=0.0), digits)
        torch.testing.assert_close(loss(learned, aux_weight=0.5, target_weight=0.2),
                                   0.2 * pair + 0.5 * digits)
        for name in ('best', 'fast'):
            torch.testing.assert_close(loss(build_model(name), aux_weight=1.0), digits)


@pytest.mark.parametrize('name', ('best', 'course_budget', 'fast'))
def test_training_passes_the_recipe_smoothing_to_every_loss(name, monkeypatch):
    """Every cross-entropy of a training step (the digit losses; these heads learn
    nothing) has the recipe's smoothing, 0.1, two digit images per pair in each."""
    calls = []
    original = F.cross_entropy
    signature = inspect.signature(original)

    def spy(*args, **kwargs):
        bound = signature.bind(*args, **kwargs).arguments
        calls.append((bound['input'].requires_grad, bound.get('label_smoothing', 0.0),
                      bound['input'].shape))
        return original(*args, **kwargs)

    monkeypatch.setattr(F, 'cross_entropy', spy)
    data = synthetic_pairs(130).normalised()
    torch.manual_seed(0)
    model = build_model(name)
    settings = train.model_settings(name, dict(epochs=2))
    train.train(model, data, generator=torch.Generator().manual_seed(0), curves=True, **settings)
    training = [(smoothing, shape) for grad, smoothing, shape in calls if grad]
    batches = 2 * math.ceil(130 / settings['batch_size'])
    assert len(training) == batches, 'one digit loss per batch'
    assert all(smoothing == pytest.approx(0.1) for smoothing, _ in training)
    assert sum(shape[0] for _, shape in training) == 2 * 2 * 130 and all(s[1] == 10 for _, s in training)


# --- Test-time views -----------------------------------------------------------

def test_shift_averaged_views_are_the_image_and_its_four_one_pixel_shifts():
    torch.manual_seed(0)
    tower = nn.Sequential(nn.Flatten(), nn.Linear(SIZE * SIZE, 10))
    x = torch.randn(6, 1, SIZE, SIZE) * 3
    expected = torch.stack([tower(torch.roll(x, view, dims=(2, 3))).softmax(1) for view in VIEWS]).mean(0)
    averaged = models.ShiftAveraged(tower).eval()
    torch.testing.assert_close(averaged(x).exp(), expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(tower(x).softmax(1), expected, atol=1e-3), 'the views differ'


@pytest.mark.parametrize('name', NAMES)
def test_test_time_views_of_each_recipe(name):
    """best, fast and every member of fast_ensemble read each digit as the mean of its
    probabilities over the five views; course_budget reads it once."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    x = torch.randn(5, 2, SIZE, SIZE)
    images = x.reshape(10, 1, SIZE, SIZE)
    with torch.no_grad():
        for member in single_models(model):
            tower = member.towers[0]
            if name == 'course_budget':
                assert not isinstance(tower, models.ShiftAveraged)
                torch.testing.assert_close(member(x)[1], tower(images).view(5, 2, 10))
                continue
            assert isinstance(tower, models.ShiftAveraged), f'{name} averages over views at test time'
            tower = tower.tower
            expected = torch.stack([tower(torch.roll(images, view, dims=(2, 3))).softmax(1)
                                    for view in VIEWS]).mean(0).view(5, 2, 10)
            torch.testing.assert_close(member(x)[1].exp(), expected, rtol=1e-5, atol=1e-6)
            unshifted = tower(images).softmax(1).view(5, 2, 10)
            assert (unshifted - expected).abs().max() > 1e-4, 'the views differ'


# --- The schedule ----------------------------------------------------------------

@pytest.mark.parametrize('name', NAMES)
def test_one_cycle_schedule_steps_every_batch(name):
    """The rate at every optimizer step of the recipe (its epochs, on 130 pairs: the last
    batch is short) is one cycle over epochs * ceil(130 / batch) steps: from peak / 25 up
    to the recipe's peak, then down; every member of an ensemble runs its own cycle."""
    epochs, batch_size, peak = RECIPES[name]
    data = synthetic_pairs(130).normalised()
    torch.manual_seed(0)
    model = models.Ensemble(tiny_pair_model, 2) if name == 'fast_ensemble' else tiny_pair_model()
    settings = train.model_settings(name)
    rates = []
    hook = register_optimizer_step_pre_hook(
        lambda optimizer, args, kwargs: rates.append((optimizer, optimizer.param_groups[0]['lr'])))
    try:
        train.train(model, data, generator=torch.Generator().manual_seed(0), curves=False, **settings)
    finally:
        hook.remove()
    steps = epochs * math.ceil(130 / batch_size)
    optimizers = list(dict.fromkeys(optimizer for optimizer, _ in rates))
    assert len(optimizers) == len(single_models(model))
    # The same cycle by hand, from torch's OneCycleLR on a dummy parameter.
    dummy = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=peak)
    reference = torch.optim.lr_scheduler.OneCycleLR(dummy, max_lr=peak, total_steps=steps)
    expected = []
    for _ in range(steps):
        expected.append(dummy.param_groups[0]['lr'])
        dummy.step()
        reference.step()
    for optimizer in optimizers:
        assert type(optimizer) is torch.optim.Adam and optimizer.param_groups[0]['weight_decay'] == 0
        seen = [rate for owner, rate in rates if owner is optimizer]
        assert len(seen) == steps, 'one step per batch'
        assert seen == pytest.approx(expected, rel=1e-6)
        assert seen[0] == pytest.approx(peak / 25, rel=1e-6)
        assert max(seen) == pytest.approx(peak, rel=0.02)
        top = seen.index(max(seen))
        assert 0.2 * steps < top < 0.4 * steps
        assert all(a < b for a, b in zip(seen[:top], seen[1:top + 1])), 'rises every step'
        assert all(a > b for a, b in zip(seen[top:], seen[top + 1:])), 'falls every step'
        assert seen[-1] < peak / 1000


# --- Dropout ---------------------------------------------------------------------

def test_best_tower_drops_out_0_3_before_its_last_linear():
    torch.manual_seed(0)
    model = build_model('best')
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(dropouts) == 1 and dropouts[0].p == pytest.approx(0.3)
    captured = {}
    dropouts[0].register_forward_hook(
        lambda module, args, out: captured.update(dropped=(args[0].detach(), out.detach())))
    linears[-1].register_forward_pre_hook(lambda module, args: captured.update(last=args[0].detach()))
    model.train()
    x = torch.randn(64, 2, SIZE, SIZE)
    model(x)
    before, after = captured['dropped']
    assert torch.equal(captured['last'], after), 'the dropout feeds the last linear layer'
    assert linears[-1].out_features == 10
    alive = before != 0
    kept = after != 0
    rate = 1 - float(kept[alive].float().mean())
    assert rate == pytest.approx(0.3, abs=0.03)
    torch.testing.assert_close(after[kept], before[kept] / 0.7)
    model.eval()
    captured.clear()
    model(x)
    assert torch.equal(captured['dropped'][0], captured['dropped'][1]), 'none in eval mode'


@pytest.mark.parametrize('name', RECORDS)
def test_records_have_no_dropout(name):
    torch.manual_seed(0)
    model = build_model(name)
    assert not any(isinstance(m, nn.Dropout) for m in model.modules())
    model.train()
    x = torch.randn(16, 2, SIZE, SIZE)
    with torch.no_grad():
        for member in single_models(model):
            first, second = member(x)[1], member(x)[1]
            assert torch.equal(first, second), 'a training forward pass draws nothing'


# --- The head and the ensemble ----------------------------------------------------

@pytest.mark.parametrize('name', NAMES)
def test_head_is_the_exact_probability_of_first_le_second(name):
    """The pair decision is P(first <= second) from the digit probabilities the model
    returns, nothing learned."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    assert not model.learns_comparison
    assert models.count_parameters(model.comparison) == 0
    x = torch.randn(32, 2, SIZE, SIZE) * 2
    with torch.no_grad():
        pair_logits, digits = model(x)
    expected = probability_first_le_second(digits)
    torch.testing.assert_close(pair_logits.double().softmax(1)[:, 1], expected, rtol=1e-4, atol=1e-5)
    certain = torch.full((3, 2, 10), -30.0)
    for row, (a, b) in enumerate([(4, 4), (4, 5), (5, 4)]):
        certain[row, 0, a] = certain[row, 1, b] = 30.0
    assert model.comparison(certain).argmax(1).tolist() == [1, 1, 0]


def test_fast_ensemble_averages_eight_members_probabilities():
    torch.manual_seed(0)
    model = build_model('fast_ensemble').eval()
    assert len(model.members) == 8
    x = torch.randn(12, 2, SIZE, SIZE) * 2
    with torch.no_grad():
        pair_logits, digits = model(x)
        each = torch.stack([member(x)[1].softmax(-1) for member in model.members])
    mean = each.mean(0)
    torch.testing.assert_close(digits.exp(), mean, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(each[0], each[1], atol=1e-3), 'members start from their own weights'
    assert not torch.allclose(mean, each.log().mean(0).softmax(-1), atol=1e-4), 'probabilities, not logits'
    expected = probability_first_le_second(mean.log())
    torch.testing.assert_close(pair_logits.double().softmax(1)[:, 1], expected, rtol=1e-4, atol=1e-5)
