"""Training and evaluation of one pair model: plain functions that return numbers.

Read top-down: the training settings, the loss, the loop, evaluation, and
`run_once(name, data, seed)`, which builds a registered model, trains it and
returns its metrics (test.py calls it for every model and round). The
machinery follows the banner.

Example:
    PYTORCH_DATA_DIR=../shared/data python train.py cnn_ws_aux --epochs 25
"""

import argparse
import ast
import functools
import itertools
import math
import pickle
import sys
import time
from typing import NamedTuple

import torch
import torch.nn.functional as F

import dlc_practical_prologue as prologue
from models import DIGITS, MODELS, build_model, count_parameters
from utils import epoch_ticker, map_in_workers

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
    swap=None,         # None, or 'recompute' or 'flip': see PairSets.doubled_by_swapping
    augment=None,      # None, or a dict of random_warp's moves of each training digit per batch
    label_smoothing=0.0,  # of every cross-entropy
    schedule=None,     # None (constant rate) or 'onecycle' (rises to lr, then anneals)
)


def pair_loss(model, outputs, target, classes, aux_weight, target_weight=1.0,
              label_smoothing=0.0):
    """target_weight * L_target + aux_weight * (L_digit1 + L_digit2) on one batch,
    cross-entropies; a fixed comparison (cnn_digits) learns nothing from L_target."""
    pair_logits, digit_logits = outputs
    loss = (target_weight * F.cross_entropy(pair_logits, target, label_smoothing=label_smoothing)
            if model.learns_comparison else 0.0)
    if digit_logits is not None:  # L_digit1 + L_digit2 = twice the mean over all 2N digit images
        loss = loss + aux_weight * 2 * F.cross_entropy(digit_logits.reshape(-1, DIGITS),
                                                       classes.reshape(-1),
                                                       label_smoothing=label_smoothing)
    return loss


def train_one(model, data, *, epochs, batch_size, lr, optimizer, aux_weight, target_weight=1.0,
              momentum=0.9, weight_decay=0.0, swap=None, augment=None, label_smoothing=0.0,
              schedule=None, generator=None, curves=True, on_epoch=None):
    """Train one pair model on data.train_* (PairSets); the history per epoch: the
    batches' mean train loss and error and, with `curves`, the held-out loss and
    error (data.test_*, a quarter more time). on_epoch(epoch, epochs) follows each."""
    if swap is not None:
        data = data.doubled_by_swapping(swap)
    opt = make_optimizer(optimizer, model.parameters(), lr, momentum, weight_decay)
    n = data.train_input.size(0)
    if schedule == 'onecycle':
        steps = epochs * -(-n // batch_size)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    elif schedule is not None:
        raise ValueError(f'unknown schedule {schedule!r}; known: onecycle')
    if generator is None:  # drawn from the global generator, which the caller may have seeded
        generator = torch.Generator().manual_seed(int(torch.randint(2 ** 62, ())))
    keys = ('train_loss', 'train_error') + (('held_out_loss', 'held_out_error') if curves else ())
    history = {key: [] for key in keys}
    model.train()
    for epoch in range(1, epochs + 1):
        # Summed on the device and read once per epoch: no host sync per batch.
        loss_sum = torch.zeros((), device=data.train_input.device)
        wrong = torch.zeros((), dtype=torch.long, device=data.train_input.device)
        order = torch.randperm(n, generator=generator).to(data.train_input.device)
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            target = data.train_target[batch]
            input = data.train_input[batch]
            if augment:
                input = random_warp(input, generator, **augment)
            # forward, loss, backward, update
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
        # end of the epoch: the history, and a stop if the loss diverged
        epoch_loss = float(loss_sum) / n
        if not math.isfinite(epoch_loss):
            raise TrainingDiverged(f'the training loss became {epoch_loss} at epoch {epoch}')
        history['train_loss'].append(epoch_loss)
        history['train_error'].append(100.0 * float(wrong) / n)
        if on_epoch is not None:
            on_epoch(epoch, epochs)
        if curves:
            held_out_loss, held_out_error = evaluate(model, data.test_input, data.test_target,
                                                     data.test_classes, aux_weight, target_weight)
            history['held_out_loss'].append(held_out_loss)
            history['held_out_error'].append(held_out_error)
    return history


def train(model, data, **settings):
    """train_one; an ensemble's members train one after another, on their own
    draws, and the history is their mean."""
    if not hasattr(model, 'members'):
        return train_one(model, data, **settings)
    histories = [train_one(member, data, **settings) for member in model.members]
    return {key: [sum(values) / len(values) for values in zip(*(h[key] for h in histories))]
            for key in histories[0]}


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the message names the epoch."""


# --- Evaluation ------------------------------------------------------------------

# Pairs per forward pass when evaluating. In passes of 100 the activations stay
# in cache: predicting 1000 pairs with test-time shift averaging takes 0.2 s
# instead of 0.6 s in one pass (fast, one thread), 0.8 s instead of 2.1 s (best).
EVAL_BATCH = 100


def eval_outputs(model, input):
    """The model's outputs on a set, in eval mode (then restored), without autograd."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            passes = [model(part) for part in input.split(EVAL_BATCH)]
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


def digit_error(digit_logits, classes):
    """Error in % of digit images (None without digit outputs)."""
    if digit_logits is None:
        return None
    return 100.0 * float((digit_logits.argmax(2) != classes).sum()) / classes.numel()


def mistakes(outputs, target, classes):
    """Where a model errs on a set, from its eval_outputs: counts of the wrong
    pairs and of all pairs by digits (see digit_grid), the indices of the wrong
    pairs, the digits it read in them, and the misread first and second images
    by digits (None without digit outputs)."""
    pair_logits, digit_logits = outputs
    wrong = pair_logits.argmax(1) != target
    misread = None if digit_logits is None else (digit_logits.argmax(2) != classes).float()
    return dict(wrong_by_digits=digit_grid(classes, wrong.float()),
                pairs_by_digits=digit_grid(classes),
                wrong_pairs=wrong.nonzero().flatten().tolist(),
                digits_read=(None if digit_logits is None else
                             digit_logits[wrong].argmax(2).tolist()),
                misread_by_digits=(None if misread is None else  # first image's, second's
                                   [digit_grid(classes, misread[:, i]) for i in (0, 1)]))


def digit_grid(classes, weights=None):
    """10x10 lists of the pairs' counts (or summed `weights`) by (first digit, second digit)."""
    counts = torch.bincount(classes[:, 0] * DIGITS + classes[:, 1], weights, minlength=DIGITS ** 2)
    return counts.long().view(DIGITS, DIGITS).tolist()


# --- One run: build, train, measure ------------------------------------------------

def model_settings(name, overrides=None):
    return {**DEFAULTS, **MODELS[name].settings, **(overrides or {})}


def run_once(name, data, seed, overrides=None, device='cpu', curves=True, on_epoch=None):
    """Build model `name` with seed `seed`, train it on `data` (raw PairSets, on
    `device`) and return its metrics, errors in % of pairs on the held-out pairs
    data.test_*, and the seconds of training and of predicting them."""
    settings = model_settings(name, overrides)
    data = data.normalised()
    warm_up(name, data, settings, device)
    torch.manual_seed(seed)  # the weight initialisation
    # Channels-last convolutions train about 1.6x faster on CPU (cnn_2ch, 25 epochs,
    # one thread: 4.1 s -> 2.5 s); Linear layers are unaffected.
    model = build_model(name).to(device, memory_format=torch.channels_last)
    shuffle = torch.Generator().manual_seed(seed)
    start = finished(device)
    history = train(model, data, generator=shuffle, curves=curves, on_epoch=on_epoch, **settings)
    train_time = finished(device) - start
    train_error = pair_error(eval_outputs(model, data.train_input)[0], data.train_target)
    start = time.perf_counter()
    held_out = eval_outputs(model, data.test_input)  # one pass for the three held-out measures
    eval_time = finished(device) - start  # predicting the held-out pairs, as a user would
    return dict(
        model=name, seed=seed, params=count_parameters(model), settings=settings,
        train_error=train_error, held_out_error=pair_error(held_out[0], data.test_target),
        held_out_digit_error=digit_error(held_out[1], data.test_classes),
        held_out_mistakes=mistakes(held_out, data.test_target, data.test_classes),
        train_pairs_by_digits=digit_grid(data.train_classes),
        train_time_s=train_time, eval_time_s=eval_time, history=history)


def finished(device):
    if device != 'cpu':
        torch.cuda.synchronize()
    return time.perf_counter()


_warmed_up = set()


def warm_up(name, data, settings, device):
    """Two steps of a throwaway copy, once per process: one-time costs (kernel
    selection, allocations) stay out of the timing."""
    if (name, device) in _warmed_up:
        return
    model = build_model(name).to(device, memory_format=torch.channels_last)
    few = PairSets(*(t[:settings['batch_size']] for t in data))
    train(model, few, **dict(settings, epochs=2), curves=False)
    _warmed_up.add((name, device))


def main(argv=None):
    parser = argparse.ArgumentParser(description='Train one model once and print its history.')
    parser.add_argument('model', choices=list(MODELS), metavar='MODEL',
                        help='a registered model (see python test.py --list)')
    parser.add_argument('--epochs', type=setting_type('epochs'), default=None,
                        help="(default: the model's own, 25 for most)")
    parser.add_argument('--set', type=setting, action='append', default=[], metavar='KEY=VALUE',
                        help='any other training setting, repeatable (see python test.py --help)')
    parser.add_argument('--seed', type=int, default=0, help='(default: 0)')
    parser.add_argument('--unseen', type=unseen_cells, default=None, metavar='A:B[,A:B...]',
                        help='digit combinations kept out of training (see python test.py --help)')
    parser.add_argument('--data_dir', default=None,
                        help='folder holding mnist/ (default: $PYTORCH_DATA_DIR, else ./data)')
    args = parser.parse_args(argv)
    overrides = dict(args.set, **({} if args.epochs is None else dict(epochs=args.epochs)))
    try:  # the pairs of generate_pair_sets(1000) drawn with the seed, skipping any unseen
        pairs = round_pairs(args.data_dir, args.seed, unseen=args.unseen)
    except prologue.MnistUnavailable as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    except ValueError as error:  # too few pairs outside the unseen combinations
        print(f'error: --unseen: {error}', file=sys.stderr)
        return 2
    result = run_once(args.model, pairs, args.seed, overrides)
    for epoch, row in enumerate(zip(*result['history'].values()), 1):
        print(f'epoch {epoch:3d}  ' + '  '.join(f'{k} {v:7.3f}' for k, v in zip(result['history'], row)))
    print(f"{args.model}: train error {result['train_error']:.1f}%, "
          f"test error {result['held_out_error']:.1f}%, {result['train_time_s']:.2f} s")
    return 0


# =====================================================================================
# The machinery: the training parts (optimizer, random moves, pair sets), each
# setting's rule, and the rounds (pairs from a seed, model-rounds in workers).
# =====================================================================================

OPTIMIZERS = ('adam', 'sgd')


def make_optimizer(name, parameters, lr, momentum=0.9, weight_decay=0.0):
    if name == 'adam':
        if weight_decay:
            return fused_if_possible(torch.optim.AdamW, parameters, lr=lr, weight_decay=weight_decay)
        return fused_if_possible(torch.optim.Adam, parameters, lr=lr)
    if name == 'sgd':
        return torch.optim.SGD(parameters, lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f'unknown optimizer {name!r}; known: {", ".join(OPTIMIZERS)}')


def fused_if_possible(optimizer_class, parameters, **options):
    """`optimizer_class` with one fused kernel for all parameters (about 9% faster
    for cnn_2ch on CPU) where torch has it for the device (before 2.4, CUDA only:
    a RuntimeError on CPU tensors), else its default implementation."""
    parameters = list(parameters)  # a generator would be spent by the first try
    try:
        return optimizer_class(parameters, fused=True, **options)
    except RuntimeError:
        return optimizer_class(parameters, **options)


def random_warp(input, generator, shift=0.0, rotate=0.0, scale=0.0, elastic=0.0, erase=0):
    """Each 14x14 image of `input` (N, 2, 14, 14) moved at random, on its own:
    shifted by up to `shift` pixels, rotated by up to `rotate` degrees, scaled
    by up to 1 +- `scale`; bent by a smooth field of up to `elastic` pixels (4x4
    random moves, upsampled bicubically); then an `erase` x `erase` square set
    to the image's background (its lowest value), as in cutout."""
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

    def held_out(self, split):
        """The training pairs of `split` replace the test pairs, which are dropped (a
        choice made on them never sees the test pairs), and the others train:
        ('validation', N), the last N, or ('fold', k, K), the k-th of K equal folds."""
        n = self.train_input.size(0)
        kind, *values = split
        if kind == 'validation':
            start, stop = n - values[0], n
        elif kind == 'fold':
            k, folds = values
            start, stop = k * n // folds, (k + 1) * n // folds
        else:
            raise ValueError(f'unknown held-out set {split!r}')
        if not 0 <= start < stop <= n or stop - start == n:
            raise ValueError(f'{split!r}: of {n} training pairs, it leaves none to train or holds none')
        held = (torch.arange(n) >= start) & (torch.arange(n) < stop)
        train_sets = (self.train_input, self.train_target, self.train_classes)
        return PairSets(*(t[~held] for t in train_sets), *(t[held] for t in train_sets))

    def doubled_by_swapping(self, rule):
        """The training pairs plus each with its images swapped, the target
        recomputed from the swapped digits ('recompute') or taken as 1 - target
        ('flip': wrong for equal digits, which satisfy <= both ways)."""
        classes = self.train_classes.flip(1)
        if rule == 'recompute':
            target = prologue.pair_target(classes)
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


# --- The one rule of each training setting: --set KEY=VALUE, the flags, report.tune --

SWAP_RULES = (None, 'recompute', 'flip')
SCHEDULES = (None, 'onecycle')
AUGMENTATIONS = ('shift', 'rotate', 'scale', 'elastic', 'erase')


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _moves(value):
    return value is None or (isinstance(value, dict) and set(value) <= set(AUGMENTATIONS)
                             and all(_number(v) and v >= 0 for v in value.values())
                             and isinstance(value.get('erase', 0), int))


# What each setting of DEFAULTS must be: a test of the value, and the rule in words.
SETTING_RULES = dict(
    epochs=(_count, 'an integer >= 1'),
    batch_size=(_count, 'an integer >= 1'),
    lr=(lambda v: _number(v) and v > 0, 'a number above 0'),
    optimizer=(lambda v: v in OPTIMIZERS, 'one of adam, sgd'),
    momentum=(lambda v: _number(v) and v >= 0, 'a number >= 0'),
    weight_decay=(lambda v: _number(v) and v >= 0, 'a number >= 0'),
    target_weight=(lambda v: _number(v) and v >= 0, 'a number >= 0'),
    aux_weight=(lambda v: _number(v) and v >= 0, 'a number >= 0'),
    swap=(lambda v: v in SWAP_RULES, 'one of None, recompute, flip'),
    augment=(_moves, f'None or a dict of {", ".join(AUGMENTATIONS)}, each a number >= 0 (erase: '
                     "an integer), e.g. \"{'shift': 2, 'rotate': 10}\""),
    label_smoothing=(lambda v: _number(v) and 0 <= v < 1, 'in [0, 1)'),
    schedule=(lambda v: v in SCHEDULES, 'one of None, onecycle'),
)


def checked_setting(key, text, shown):
    """Setting `key` read from command-line `text`, a Python literal or a plain
    word (adam); an argparse error quoting `shown` if its rule refuses it."""
    if key not in SETTING_RULES:
        raise argparse.ArgumentTypeError(f'{shown!r}: unknown setting {key!r}; known: {", ".join(DEFAULTS)}')
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    valid, rule = SETTING_RULES[key]
    if not valid(value):
        raise argparse.ArgumentTypeError(f'{shown!r}: {key} must be {rule}')
    return value


def setting(text):
    """argparse type of --set: KEY=VALUE, one training setting of DEFAULTS."""
    key, sign, raw = text.partition('=')
    if not sign:
        raise argparse.ArgumentTypeError(f'{text!r}: expected KEY=VALUE')
    return key.strip(), checked_setting(key.strip(), raw, text)


def setting_type(key):
    """argparse type of --KEY (and of report.tune's axis), by the rule of --set;
    a float where the default is one."""
    def parse(text):
        value = checked_setting(key, text, text)
        return float(value) if isinstance(DEFAULTS[key], float) else value
    parse.__name__ = key
    return parse


def unseen_cells(text):
    """argparse type of --unseen: A:B[,A:B...], each A and B a digit or * (any):
    the sorted [first, second] digit combinations kept out of the training pairs."""
    cells = set()
    for item in text.split(','):
        first, sign, second = item.strip().partition(':')
        digits = [range(DIGITS) if d == '*' else [int(d)] if d.isdigit() and int(d) < DIGITS else None
                  for d in (first.strip(), second.strip())]
        if not sign or None in digits:
            raise argparse.ArgumentTypeError(f'{text!r}: each item is A:B, A and B a digit 0-9 or *, '
                                             'as in 7:* or 3:5,5:3')
        cells.update(itertools.product(*digits))
    if len(cells) == DIGITS ** 2:
        raise argparse.ArgumentTypeError(f'{text!r}: keeps every digit combination out of training')
    return sorted([first, second] for first, second in cells)


# --- Rounds: a round's pairs from its seed, and model-rounds in worker processes -----
# Every model and setting sees the same pairs in a round: their differences are paired.

PAIRS = 1000  # test pairs per round, and training pairs unless a run asks for others
# Training pairs a run may ask for: each pair takes two of the 60,000 training digits.
TRAIN_PAIRS_RANGE = (10, 30000)


def draw_pairs(mnist, seed, train_pairs=PAIRS, unseen=None):
    """`train_pairs` training pairs and PAIRS test pairs drawn with `seed` from
    MNIST's two splits. One permutation draws the training pairs whatever their
    number, so a round's smaller sets are the first pairs of its larger ones,
    and its test pairs are the same for every size; the training pairs skip the
    `unseen` [first, second] digit combinations (see unseen_cells)."""
    generator = torch.Generator().manual_seed(seed)
    (train_images, train_labels), (test_images, test_labels) = mnist
    mask = None
    if unseen:
        mask = torch.zeros(DIGITS, DIGITS, dtype=torch.bool)
        mask[[first for first, _ in unseen], [second for _, second in unseen]] = True
    return PairSets(*prologue.mnist_to_pairs(train_pairs, train_images, train_labels, generator, mask),
                    *prologue.mnist_to_pairs(PAIRS, test_images, test_labels, generator))


@functools.lru_cache(maxsize=None)
def mnist_splits(data_dir):
    """MNIST's two splits, loaded (and checked) once per process, as uint8: a
    quarter of float32's memory; a round's pairs become float32 as it draws them."""
    return prologue.load_mnist_splits(data_dir, torch.uint8)


def round_pairs(data_dir, seed, held_out=None, train_pairs=PAIRS, unseen=None):
    """The pairs of the round with `seed`, scored on its test pairs or on
    `held_out` training pairs (see PairSets.held_out)."""
    pairs = draw_pairs(mnist_splits(data_dir), seed, train_pairs, unseen)
    return pairs if held_out is None else pairs.held_out(held_out)


def held_out_sets(validation=None, folds=None, train_pairs=PAIRS):
    """What each round is scored on, as (description, [(fold, split)]), a split
    for round_pairs: the test pairs (fold None), the last `validation` training
    pairs (fold 0), or each fold of K-fold cross-validation of the training
    pairs. A ValueError naming the option where it leaves no training pairs."""
    if folds is not None:
        if not 2 <= folds <= train_pairs:
            raise ValueError(f'--folds {folds}: must be 2 to {train_pairs} (the training pairs)')
        return (f'{folds}-fold cross-validation of the training pairs',
                [(k, ('fold', k, folds)) for k in range(folds)])
    if validation is not None:
        if validation >= train_pairs:
            raise ValueError(f'--validation {validation}: must leave training pairs '
                             f'(below {train_pairs})')
        return f'validation: the last {validation} training pairs', [(0, ('validation', validation))]
    return 'test pairs', [(None, None)]


def make_job(model, round_index, seed, split, overrides, data_dir, device='cpu', curves=False,
             quiet=False, train_pairs=PAIRS, unseen=None, **tag):
    """One model-round for run_job: `model` trained on the pairs of `seed`,
    scored on `split` (see round_pairs); `tag` (fold, setting; None left out)
    tells it from the other runs of its round."""
    tag = {key: value for key, value in tag.items() if value is not None}
    return dict(model=model, round=round_index, seed=seed, split=split,
                held_out='test' if split is None else split[0], overrides=overrides,
                data_dir=data_dir, device=device, curves=curves, quiet=quiet,
                train_pairs=train_pairs, unseen=unseen, **({'tag': tag} if tag else {}))


def with_pairs(jobs):
    """Each job of make_job with its round's pairs, drawn here as it is sent:
    only this process holds MNIST (55 MB, a tenth of a worker's memory). The
    pairs go pickled, 3 MB a job: as tensors, the pool would move every job's
    pairs to shared memory at once (0.3 GB for the default run)."""
    for job in jobs:
        pairs = round_pairs(job['data_dir'], job['seed'], job['split'], job['train_pairs'],
                            job['unseen'])
        yield dict(job, pairs=pickle.dumps(pairs))


def run_job(job):
    """One model-round of with_pairs: run_once's metrics with the round, what it
    was scored on and the tag; a diverged training is a result marked failed."""
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
    """Results of the jobs, in order, as utils.map_in_workers gives them; with
    `one_thread`, a model-round here gives the same digits as in a worker."""
    return map_in_workers(run_job, with_pairs(jobs), workers, one_thread)


if __name__ == '__main__':
    sys.exit(main())
