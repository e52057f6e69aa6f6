"""Training and evaluation of one pair model: plain functions that return numbers.

The loss is `L = L_target + aux_weight * (L_digit1 + L_digit2)` (cross-entropy);
a model without digit outputs trains on L_target alone, a model with a fixed
comparison (cnn_digits) on the digit losses alone. Inputs are normalised with
the training pairs' mean and standard deviation only.

`run_once(name, data, seed)` builds a registered model, trains it and returns
its metrics; test.py calls it for every model and round. The rounds are here
too: a round's pairs from its seed (`round_pairs`, with a validation split or a
fold held out), and `run_jobs`, which trains model-rounds side by side in
worker processes (one thread each), the pairs sent from this process.

Example:
    PYTORCH_DATA_DIR=../shared/data python train.py cnn_ws_aux --epochs 25
"""

import argparse
import ast
import math
import multiprocessing
import pickle
import signal
import sys
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F

import dlc_practical_prologue as prologue
from dlc_practical_prologue import pair_target
from models import DIGITS, MODELS, build_model, count_parameters
from utils import epoch_ticker, positive_int

# Course-like hyper-parameters: the brief's 25 epochs, Adam at its default rate.
DEFAULTS = dict(
    epochs=25,         # passes over the 1000 training pairs
    batch_size=100,    # pairs per gradient step
    lr=1e-3,           # learning rate
    optimizer='adam',  # 'adam' or 'sgd'
    momentum=0.9,      # SGD only
    weight_decay=0.0,  # decoupled (AdamW) for adam, L2 for sgd
    target_weight=1.0, # weight of the pair-target loss
    aux_weight=1.0,    # weight of the two auxiliary digit losses
    swap=None,         # None, or double the training pairs by swapping the images:
                       # 'recompute' the target from the swapped digits, or 'flip' it
                       # (report 003's rule, wrong for equal digits)
    augment=None,      # None, or random moves of each training digit per batch:
                       # dict(shift=pixels, rotate=degrees, scale=fraction, elastic=pixels,
                       # erase=pixels)
    label_smoothing=0.0,  # of every cross-entropy
    schedule=None,     # None (constant rate) or 'onecycle' (rises to lr, then anneals)
)
OPTIMIZERS = ('adam', 'sgd')
SWAP_RULES = (None, 'recompute', 'flip')
SCHEDULES = (None, 'onecycle')
AUGMENTATIONS = ('shift', 'rotate', 'scale', 'elastic', 'erase')


def _finite_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def setting_problem(key, value):
    """Why `value` cannot be training setting `key` (a message), or None."""
    number = _finite_number(value)
    if key not in DEFAULTS:
        return f'unknown setting {key!r}; known: {", ".join(DEFAULTS)}'
    if key in ('epochs', 'batch_size'):
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else f'{key} must be an integer >= 1'
    if key == 'lr':
        return None if number and value > 0 else 'lr must be a number above 0'
    if key == 'label_smoothing':
        return None if number and 0 <= value < 1 else 'label_smoothing must be in [0, 1)'
    if key in ('momentum', 'weight_decay', 'target_weight', 'aux_weight'):
        return None if number and value >= 0 else f'{key} must be a number >= 0'
    known = dict(optimizer=OPTIMIZERS, swap=SWAP_RULES, schedule=SCHEDULES).get(key)
    if known is not None:
        return None if value in known else f'{key} must be one of {", ".join(map(str, known))}'
    # augment: None, or a dict of moves, each a number >= 0 (erase: a whole number of pixels)
    if value is None:
        return None
    if not isinstance(value, dict) or not set(value) <= set(AUGMENTATIONS) \
            or not all(_finite_number(v) and v >= 0 for v in value.values()) \
            or not isinstance(value.get('erase', 0), int):
        return (f'augment must be None or a dict of {", ".join(AUGMENTATIONS)}, each a number '
                ">= 0 (erase: an integer), e.g. \"{'shift': 2, 'rotate': 10}\"")
    return None


def setting(text):
    """argparse type: KEY=VALUE, one training setting of DEFAULTS. VALUE is a
    Python literal (a number, None, a dict for augment) or a plain word."""
    key, sign, raw = text.partition('=')
    if not sign:
        raise argparse.ArgumentTypeError(f'{text!r}: expected KEY=VALUE')
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a plain word: adam, onecycle, recompute
    problem = setting_problem(key.strip(), value)
    if problem:
        raise argparse.ArgumentTypeError(f'{text!r}: {problem}')
    return key.strip(), value


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the epoch."""


class PairSets(NamedTuple):
    """The six tensors of dlc_practical_prologue.generate_pair_sets."""
    train_input: torch.Tensor
    train_target: torch.Tensor
    train_classes: torch.Tensor
    test_input: torch.Tensor
    test_target: torch.Tensor
    test_classes: torch.Tensor

    def to(self, device):
        return PairSets(*(t.to(device) for t in self))

    def validation_split(self, n_val):
        """The training pairs split in two: the first pairs train, the last `n_val`
        take the place of the test pairs. The real test pairs are dropped, so a
        choice made on this split never sees them."""
        n_train = self.train_input.size(0) - n_val
        if not 0 < n_train < self.train_input.size(0):
            raise ValueError(f'a validation split of {n_val} needs 1..{self.train_input.size(0) - 1}')
        head = (self.train_input[:n_train], self.train_target[:n_train], self.train_classes[:n_train])
        tail = (self.train_input[n_train:], self.train_target[n_train:], self.train_classes[n_train:])
        return PairSets(*head, *tail)

    def fold_split(self, fold, folds):
        """Fold `fold` of `folds` (K-fold cross-validation on the training
        pairs): that fold's pairs take the place of the test pairs, the other
        folds train. The real test pairs are dropped."""
        n = self.train_input.size(0)
        if not 0 <= fold < folds <= n:
            raise ValueError(f'fold {fold} of {folds} needs 0 <= fold < folds <= {n}')
        held = torch.zeros(n, dtype=torch.bool)
        held[fold * n // folds:(fold + 1) * n // folds] = True
        train_sets = (self.train_input, self.train_target, self.train_classes)
        return PairSets(*(t[~held] for t in train_sets), *(t[held] for t in train_sets))

    def doubled_by_swapping(self, rule):
        """The training pairs plus each pair with its two images swapped. The
        swapped target is recomputed from the swapped digits ('recompute'), or
        taken as 1 - target ('flip'), which is wrong for equal digits: both
        orders then satisfy <=."""
        classes = self.train_classes.flip(1)
        if rule == 'recompute':
            target = pair_target(classes)
        elif rule == 'flip':
            target = 1 - self.train_target
        else:
            raise ValueError(f'unknown swap rule {rule!r}; known: recompute, flip')
        return self._replace(train_input=torch.cat((self.train_input, self.train_input.flip(1))),
                             train_target=torch.cat((self.train_target, target)),
                             train_classes=torch.cat((self.train_classes, classes)))

    def normalised(self):
        """Both inputs standardised with the training inputs' statistics only."""
        mean, std = self.train_input.mean(), self.train_input.std()
        return self._replace(train_input=(self.train_input - mean) / std,
                             test_input=(self.test_input - mean) / std)


def pair_loss(model, outputs, target, classes, aux_weight, target_weight=1.0,
              label_smoothing=0.0):
    """The training objective of `model` on one batch (a 0-d tensor):
    target_weight * L_target + aux_weight * (L_digit1 + L_digit2)."""
    pair_logits, digit_logits = outputs
    loss = (target_weight * F.cross_entropy(pair_logits, target, label_smoothing=label_smoothing)
            if model.learns_comparison else 0.0)
    if digit_logits is not None:  # L_digit1 + L_digit2 = twice the mean over all 2N digit images
        loss = loss + aux_weight * 2 * F.cross_entropy(digit_logits.reshape(-1, DIGITS),
                                                       classes.reshape(-1),
                                                       label_smoothing=label_smoothing)
    return loss


def random_warp(input, generator, shift=0.0, rotate=0.0, scale=0.0, elastic=0.0, erase=0):
    """Each 14x14 image of `input` (N, 2, 14, 14) moved at random: shifted by up
    to `shift` pixels, rotated by up to `rotate` degrees and scaled by up to
    1 +- `scale`, independently per image; with `elastic`, also bent by a
    smooth random displacement field of up to `elastic` pixels (a 4x4 grid of
    random moves, upsampled bicubically); with `erase`, an erase x erase square
    at a random place of each moved image is set to that image's background
    (its lowest value), as in cutout."""
    n, size = input.size(0) * input.size(1), input.size(-1)
    draw = lambda shape: (torch.rand(shape, generator=generator) * 2 - 1).to(input.device)  # noqa: E731
    angle = draw(n) * math.radians(rotate)
    zoom = 1 + draw(n) * scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    offset = draw((n, 2)) * (2 * shift / size)  # pixels -> [-1, 1] grid units
    theta = torch.stack((torch.stack((cos, -sin, offset[:, 0]), 1),
                         torch.stack((sin, cos, offset[:, 1]), 1)), 1)
    images = input.reshape(n, 1, *input.shape[2:])
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if elastic:
        field = F.interpolate(draw((n, 2, 4, 4)), size=input.shape[2:], mode='bicubic',
                              align_corners=True)
        grid = grid + field.permute(0, 2, 3, 1) * (2 * elastic / size)
    moved = F.grid_sample(images, grid, align_corners=False, padding_mode='border')
    if erase:
        moved = erased_squares(moved, erase, generator)
    return moved.view_as(input)


def erased_squares(images, side, generator):
    """images (n, 1, H, W) with one side x side square each, at a random place,
    set to the image's lowest value."""
    n, _, height, width = images.shape
    corner = torch.rand((n, 2), generator=generator).to(images.device)
    top = (corner[:, 0] * (height - side + 1)).long().view(n, 1, 1, 1)
    left = (corner[:, 1] * (width - side + 1)).long().view(n, 1, 1, 1)
    rows = torch.arange(height, device=images.device).view(1, 1, height, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, 1, width)
    inside = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    background = images.amin(dim=(2, 3), keepdim=True)
    return torch.where(inside, background, images)


# Pairs per forward pass when evaluating. In passes of 100 the activations stay
# in cache: predicting 1000 pairs with test-time shift averaging takes 0.2 s
# instead of 0.6 s in one pass (fast, one thread), 0.8 s instead of 2.1 s (best).
EVAL_BATCH = 100


def eval_outputs(model, input):
    """The model's outputs on a whole set (in passes of EVAL_BATCH pairs), in
    eval mode and without autograd; the model's mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            passes = [model(input[start:start + EVAL_BATCH])
                      for start in range(0, input.size(0), EVAL_BATCH)]
    finally:
        model.train(was_training)
    pair_logits, digit_logits = zip(*passes)
    return torch.cat(pair_logits), (None if digit_logits[0] is None else torch.cat(digit_logits))


def pair_error(pair_logits, target):
    """Error in % of pairs."""
    return 100.0 * float((pair_logits.argmax(1) != target).sum()) / target.size(0)


def evaluate(model, input, target, classes, aux_weight, target_weight=1.0):
    """(loss, error in % of pairs) of `model` on a whole set, in eval mode."""
    outputs = eval_outputs(model, input)
    loss = pair_loss(model, outputs, target, classes, aux_weight, target_weight)
    return float(loss), pair_error(outputs[0], target)


def digit_error(model, input, classes, outputs=None):
    """Error in % of digit images of the model's digit outputs, or None if it
    has none; `outputs` of eval_outputs on `input`, if already computed."""
    digit_logits = (outputs or eval_outputs(model, input))[1]
    if digit_logits is None:
        return None
    return 100.0 * float((digit_logits.argmax(2) != classes).sum()) / classes.numel()


def make_optimizer(name, parameters, lr, momentum=0.9, weight_decay=0.0):
    if name == 'adam':
        if weight_decay:
            return fused_if_possible(torch.optim.AdamW, parameters, lr=lr, weight_decay=weight_decay)
        return fused_if_possible(torch.optim.Adam, parameters, lr=lr)
    if name == 'sgd':
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f'unknown optimizer {name!r}; known: {", ".join(OPTIMIZERS)}')


def fused_if_possible(optimizer_class, parameters, **options):
    """`optimizer_class` with one fused kernel for all parameters (about 9%
    faster for cnn_2ch on CPU), where this torch has that kernel for the
    parameters' device; else its default implementation. Torch before 2.4
    fuses only on CUDA, and refuses fused=True on CPU tensors with a RuntimeError."""
    parameters = list(parameters)  # a generator would be spent by the first try
    try:
        return optimizer_class(parameters, fused=True, **options)
    except RuntimeError:
        return optimizer_class(parameters, **options)


def train(model, data, **settings):
    """Train `model` on data.train_* (see train_one) and return the per-epoch
    history. The members of an ensemble (models.Ensemble) are trained one
    after another, each on its own batch order and augmentation draws, and the
    history is their mean."""
    if not hasattr(model, 'members'):
        return train_one(model, data, **settings)
    histories = [train_one(member, data, **settings) for member in model.members]
    return {key: [sum(values) / len(values) for values in zip(*(h[key] for h in histories))]
            for key in histories[0]}


def train_one(model, data, *, epochs, batch_size, lr, optimizer, aux_weight, target_weight=1.0,
              momentum=0.9, weight_decay=0.0, swap=None, augment=None, label_smoothing=0.0,
              schedule=None, generator=None, curves=True, on_epoch=None):
    """Train one pair model on data.train_* and return the per-epoch history.

    Train loss and error are averaged over the epoch's batches as they are
    trained (free); with `curves`, the loss and error on the held-out pairs
    (data.test_*) are also measured after each epoch in eval mode (about a
    quarter more time). With `swap`, the
    training pairs are doubled by swapping their images (see PairSets).
    `on_epoch(epoch, epochs)`, if given, is called after every epoch (progress).
    """
    if swap is not None:
        data = data.doubled_by_swapping(swap)
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    n = data.train_input.size(0)
    steps = epochs * -(-n // batch_size)
    if schedule == 'onecycle':
        scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    elif schedule is not None:
        raise ValueError(f'unknown schedule {schedule!r}; known: onecycle')
    if generator is None:  # drawn from the global generator, which the caller may have seeded
        generator = torch.Generator().manual_seed(int(torch.randint(2 ** 62, ())))
    keys = ('train_loss', 'train_error') + (('held_out_loss', 'held_out_error') if curves else ())
    history = {key: [] for key in keys}
    model.train()
    for epoch in range(1, epochs + 1):
        # Accumulated on the device and read once per epoch: no per-batch host sync.
        loss_sum = torch.zeros((), device=data.train_input.device)
        wrong = torch.zeros((), dtype=torch.long, device=data.train_input.device)
        order = torch.randperm(n, generator=generator).to(data.train_input.device)
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            target = data.train_target[batch]
            input = data.train_input[batch]
            if augment:
                input = random_warp(input, generator, **augment)
            outputs = model(input)
            loss = pair_loss(model, outputs, target, data.train_classes[batch], aux_weight,
                             target_weight, label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule:
                scheduler.step()
            loss_sum += loss.detach() * batch.numel()
            wrong += (outputs[0].detach().argmax(1) != target).sum()
        epoch_loss = float(loss_sum) / n
        if not math.isfinite(epoch_loss):
            raise TrainingDiverged(f'the training loss became {epoch_loss} at epoch {epoch}')
        history['train_loss'].append(epoch_loss)
        history['train_error'].append(100.0 * float(wrong) / n)
        if on_epoch is not None:
            on_epoch(epoch, epochs)
        if not curves:
            continue
        held_out_loss, held_out_error = evaluate(model, data.test_input, data.test_target,
                                                 data.test_classes, aux_weight, target_weight)
        history['held_out_loss'].append(held_out_loss)
        history['held_out_error'].append(held_out_error)
    return history


def model_settings(name, overrides=None):
    """Training settings of model `name`: DEFAULTS, then the model's own, then
    `overrides` (the settings a command gives)."""
    return {**DEFAULTS, **MODELS[name].settings, **(overrides or {})}


_warmed_up = set()


def warm_up(name, data, settings, device):
    """Train a throwaway copy of model `name` for two steps, once per process, so
    that one-time costs (kernel selection, allocations) stay out of the timing."""
    if (name, device) in _warmed_up:
        return
    model = build_model(name).to(device, memory_format=torch.channels_last)
    batch = slice(0, settings['batch_size'])
    few = data._replace(train_input=data.train_input[batch], train_target=data.train_target[batch],
                        train_classes=data.train_classes[batch])
    train(model, few, **dict(settings, epochs=2), curves=False)
    _warmed_up.add((name, device))


def mistakes(outputs, target, classes):
    """Where a model errs on a set, from its eval_outputs there: 10x10 lists of
    counts indexed by (first digit, second digit) of the pairs it gets wrong
    and of all pairs, the indices of the wrong pairs, and the digits it read in
    them (None if the model has no digit outputs)."""
    pair_logits, digit_logits = outputs
    wrong = pair_logits.argmax(1) != target
    index = classes[:, 0] * DIGITS + classes[:, 1]
    count = lambda weights: torch.bincount(index, weights, minlength=DIGITS ** 2)  # noqa: E731
    as_grid = lambda counts: counts.long().view(DIGITS, DIGITS).tolist()  # noqa: E731
    return dict(wrong_by_digits=as_grid(count(wrong.float())), pairs_by_digits=as_grid(count(None)),
                wrong_pairs=wrong.nonzero().flatten().tolist(),
                digits_read=(None if digit_logits is None else
                             digit_logits[wrong].argmax(2).tolist()))


def run_once(name, data, seed, overrides=None, device='cpu', curves=True, on_epoch=None):
    """Build model `name` with seed `seed`, train it on `data` (raw PairSets,
    on `device`) and return its metrics: errors in % of pairs on the training
    pairs and on the held-out ones (data.test_*: the test pairs, or validation
    pairs), where the held-out errors fall (see `mistakes`), the history, the
    seconds of training and of predicting the held-out pairs."""
    settings = model_settings(name, overrides)
    data = data.normalised()
    warm_up(name, data, settings, device)
    torch.manual_seed(seed)  # the weight initialisation
    # Channels-last convolutions train about 1.6x faster on CPU (cnn_2ch, 25 epochs,
    # one thread: 4.1 s -> 2.5 s); Linear layers are unaffected.
    model = build_model(name).to(device, memory_format=torch.channels_last)
    shuffle = torch.Generator().manual_seed(seed)
    if device != 'cpu':
        torch.cuda.synchronize()
    start = time.perf_counter()
    history = train(model, data, generator=shuffle, curves=curves, on_epoch=on_epoch, **settings)
    if device != 'cpu':
        torch.cuda.synchronize()
    train_time = time.perf_counter() - start
    weights = settings['aux_weight'], settings['target_weight']
    _, train_error = evaluate(model, data.train_input, data.train_target,
                              data.train_classes, *weights)
    start = time.perf_counter()
    held_out = eval_outputs(model, data.test_input)  # one pass for the three held-out measures
    if device != 'cpu':
        torch.cuda.synchronize()
    eval_time = time.perf_counter() - start  # predicting the held-out pairs, as a user would
    return dict(
        model=name, seed=seed, params=count_parameters(model), settings=settings,
        train_error=train_error, held_out_error=pair_error(held_out[0], data.test_target),
        held_out_digit_error=digit_error(model, data.test_input, data.test_classes, held_out),
        held_out_mistakes=mistakes(held_out, data.test_target, data.test_classes),
        train_time_s=train_time, eval_time_s=eval_time, history=history)


# --- Rounds: a round's pairs from its seed, and model-rounds in worker processes --
# A round draws its own training pairs (1000, or --pairs) and 1000 test pairs, and the weight
# initialisation, from one seed; every model and every setting sees the same pairs
# in a round, so differences between them are paired. test.py, report.tune and
# report.bench share these.

PAIRS = 1000  # test pairs per round, and training pairs unless a run asks for others
# Training pairs a run may ask for: each pair takes two of the 60,000 training digits.
TRAIN_PAIRS_RANGE = (10, 30000)


def draw_pairs(mnist, seed, train_pairs=PAIRS):
    """Round data: `train_pairs` training pairs and PAIRS test pairs drawn
    with `seed` from MNIST's two splits (see round_pairs for a held-out set).
    The training pairs come from one permutation of the training digits
    whatever their number, so a round's smaller training sets are the first
    pairs of its larger ones, and its test pairs are the same for every size."""
    generator = torch.Generator().manual_seed(seed)
    (train_images, train_labels), (test_images, test_labels) = mnist
    return PairSets(*prologue.mnist_to_pairs(train_pairs, train_images, train_labels, generator),
                    *prologue.mnist_to_pairs(PAIRS, test_images, test_labels, generator))


_mnist = {}


def mnist_splits(data_dir):
    """MNIST's two splits, loaded (and checked) once per process, as uint8: a
    quarter of float32's memory; a round's pairs become float32 as it draws them."""
    if data_dir not in _mnist:
        _mnist[data_dir] = prologue.load_mnist_splits(data_dir, torch.uint8)
    return _mnist[data_dir]


def round_pairs(data_dir, seed, held_out=None, train_pairs=PAIRS):
    """The pairs of the round with `seed` (`train_pairs` training pairs).
    held_out: None (the test pairs), ('validation', N) for the last N training
    pairs, or ('fold', k, K) for fold k of K of the training pairs."""
    pairs = draw_pairs(mnist_splits(data_dir), seed, train_pairs)
    if held_out is None:
        return pairs
    kind, *values = held_out
    if kind == 'validation':
        return pairs.validation_split(*values)
    if kind == 'fold':
        return pairs.fold_split(*values)
    raise ValueError(f'unknown held-out set {held_out!r}')


def held_out_sets(validation=None, folds=None):
    """[(fold, held_out)] of a round, for round_pairs: the test pairs (fold
    None), the last `validation` training pairs (fold 0), or every fold of
    K-fold cross-validation of the training pairs."""
    if folds is not None:
        return [(k, ('fold', k, folds)) for k in range(folds)]
    if validation is not None:
        return [(0, ('validation', validation))]
    return [(None, None)]


def held_out_problem(validation=None, folds=None, train_pairs=PAIRS):
    """Why these held-out options cannot be used with `train_pairs` training
    pairs (a message naming the option), or None."""
    if folds is not None and not 2 <= folds <= train_pairs:
        return f'--folds {folds}: must be 2 to {train_pairs} (the training pairs)'
    if validation is not None and validation >= train_pairs:
        return f'--validation {validation}: must leave training pairs (below {train_pairs})'
    return None


def held_out_description(validation=None, folds=None):
    if folds is not None:
        return f'{folds}-fold cross-validation of the training pairs'
    if validation is not None:
        return f'validation: the last {validation} training pairs'
    return 'test pairs'


def _start_worker():
    torch.set_num_threads(1)  # the workers share the cores, one each
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def make_job(model, round_index, seed, split, overrides, data_dir, device='cpu', curves=False,
             quiet=False, train_pairs=PAIRS, **tag):
    """One model-round for run_job: `model` trained on the `train_pairs`
    training pairs of `seed` and scored on `split` (see round_pairs), with
    `overrides` of its training settings; `tag` (fold, setting; None left out)
    tells it from the other runs of its round."""
    tag = {key: value for key, value in tag.items() if value is not None}
    return dict(model=model, round=round_index, seed=seed, split=split,
                held_out='test' if split is None else split[0], overrides=overrides,
                data_dir=data_dir, device=device, curves=curves, quiet=quiet,
                train_pairs=train_pairs, **({'tag': tag} if tag else {}))


def with_pairs(jobs):
    """Each job of make_job with its round's pairs, drawn here as it is sent,
    so that only this process holds MNIST (55 MB, which would be a tenth of
    each worker's memory). The pairs go pickled by value, 3 MB per job: as
    tensors, multiprocessing would move them to shared memory, and the pool
    would then draw every job's pairs at once (0.3 GB for the default run)
    instead of a few at a time as the workers take them."""
    for job in jobs:
        pairs = round_pairs(job['data_dir'], job['seed'], job['split'], job['train_pairs'])
        yield dict(job, pairs=pickle.dumps(pairs))


def run_job(job):
    """One model-round of with_pairs: the result dict of train.run_once plus
    the round, what it was scored on (and the tag); a diverged training is a
    result marked failed."""
    head = dict(round=job['round'], held_out=job['held_out'],
                **({'tag': job['tag']} if 'tag' in job else {}))
    pairs = pickle.loads(job['pairs']).to(job['device'])
    ticker = None if job.get('quiet') else epoch_ticker(f"round {job['round'] + 1} {job['model']}")
    try:
        return dict(head, **run_once(job['model'], pairs, job['seed'], job['overrides'],
                                     job['device'], job['curves'], on_epoch=ticker))
    except TrainingDiverged as error:  # recorded as failed, and the run goes on
        return dict(head, model=job['model'], seed=job['seed'], failed=str(error))


def run_jobs(jobs, workers, one_thread=False):
    """Results of the jobs, in order, computed by `workers` processes of one
    thread each; if 1, here, with torch's threads, or one with `one_thread`
    (so a model-round gives the same digits as in a worker)."""
    if workers == 1:
        threads = torch.get_num_threads()
        if one_thread:
            torch.set_num_threads(1)
        try:
            yield from map(run_job, with_pairs(jobs))
        finally:
            torch.set_num_threads(threads)
        return
    # spawn, not fork: a forked child of a process that already ran OpenMP can hang.
    pool = multiprocessing.get_context('spawn').Pool(workers, initializer=_start_worker)
    try:  # imap takes the jobs as the workers ask for them: a few rounds' pairs in flight
        yield from pool.imap(run_job, with_pairs(jobs))
    finally:
        pool.terminate()
        pool.join()


def main(argv=None):
    from dlc_practical_prologue import MnistUnavailable, generate_pair_sets
    parser = argparse.ArgumentParser(description='Train one model once and print its history.')
    parser.add_argument('model', choices=list(MODELS), metavar='MODEL',
                        help='a registered model (see python test.py --list)')
    parser.add_argument('--epochs', type=positive_int, default=None,
                        help="(default: the model's own, 25 for most)")
    parser.add_argument('--set', type=setting, action='append', default=[], metavar='KEY=VALUE',
                        help='any other training setting, repeatable (see python test.py --help)')
    parser.add_argument('--seed', type=int, default=0, help='(default: 0)')
    parser.add_argument('--data_dir', default=None,
                        help='folder holding mnist/ (default: $PYTORCH_DATA_DIR, else ./data)')
    args = parser.parse_args(argv)
    overrides = dict(args.set, **({} if args.epochs is None else dict(epochs=args.epochs)))
    try:
        pairs = PairSets(*generate_pair_sets(1000, args.data_dir,
                                             torch.Generator().manual_seed(args.seed)))
    except MnistUnavailable as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    result = run_once(args.model, pairs, args.seed, overrides)
    for epoch, row in enumerate(zip(*result['history'].values()), 1):
        print(f'epoch {epoch:3d}  ' + '  '.join(f'{k} {v:7.3f}'
                                                for k, v in zip(result['history'], row)))
    print(f"{args.model}: train error {result['train_error']:.1f}%, "
          f"test error {result['held_out_error']:.1f}%, {result['train_time_s']:.2f} s")
    return 0


if __name__ == '__main__':
    sys.exit(main())
