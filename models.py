"""Every architecture of the project, built from a few small parts.

A pair model sees an input (N, 2, 14, 14) and returns `(pair_logits, digit_logits)`:
pair_logits (N, 2) score "first digit <= second"; digit_logits (N, 2, 10) are
the two digits' class scores when the model is trained with the auxiliary
loss, else None.

Parts:
  digit tower      one 1x14x14 image -> 10 scores (an MLP or a CNN encoder,
                   then a linear digit layer)
  weight sharing   one tower for both images, else one tower per image
  auxiliary loss   the 10 scores of each image are trained on its digit label,
                   and the comparison head reads them as probabilities (the
                   parameters are the same either way: `x` and `x_aux` have
                   equal counts)
  comparison head  the 2x10 scores -> pair logits: learned (a small MLP) or
                   fixed (compare the two predicted digits)
Plus `cnn_2ch`, one CNN on the pair as a 2-channel image (report 002's model 1,
70,906 parameters, the course's reference size); the systems of the five
reports (groups r000-r004, built from the same parts where their text allows);
the head-input ablation (group heads); and `best`, the accuracy model, with
its ablation (group ablation) and development variants (best_*).

Example:
    python models.py            # every registered model with its parameter count
    python test.py --list       # the same, with the groups
"""

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch
from torch import nn

IMAGE_PIXELS = 14 * 14
DIGITS = 10


def mlp_encoder():
    """196 pixels -> 128 features."""
    return nn.Sequential(nn.Flatten(), nn.Linear(IMAGE_PIXELS, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU())


def cnn_encoder(in_channels=1):
    """in_channels x 14 x 14 -> 200 features: the course's LeNet-like convnet
    (conv 3x3, max-pool 2, ReLU, twice, then a 200-unit layer)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, kernel_size=3), nn.MaxPool2d(2), nn.ReLU(),  # 14 -> 12 -> 6
        nn.Conv2d(32, 64, kernel_size=3), nn.MaxPool2d(2), nn.ReLU(),           # 6 -> 4 -> 2
        nn.Flatten(), nn.Linear(64 * 2 * 2, 200), nn.ReLU())


ENCODERS = {'mlp': (mlp_encoder, 128), 'cnn': (cnn_encoder, 200)}


def digit_tower(encoder):
    """One image (1x14x14) -> 10 digit scores."""
    make, features = ENCODERS[encoder]
    return nn.Sequential(make(), nn.Linear(features, DIGITS))


class LearnedComparison(nn.Sequential):
    """The two digits' 10 scores each -> pair logits, learned: an MLP with the
    given hidden widths (with BatchNorm after each hidden layer if asked), on
    the softmax probabilities of the scores with `softmax`, else on the raw scores."""

    def __init__(self, hidden=(64,), softmax=False, batchnorm=False):
        layers, width = [], 2 * DIGITS
        for size in hidden:
            layers += [nn.Linear(width, size)] + ([nn.BatchNorm1d(size)] if batchnorm else [])
            layers.append(nn.ReLU())
            width = size
        super().__init__(*layers, nn.Linear(width, 2))
        self.softmax = softmax

    def forward(self, digit_logits):
        if self.softmax:
            digit_logits = digit_logits.softmax(dim=2)
        return super().forward(digit_logits.flatten(1))


class ArgmaxComparison(nn.Module):
    """Nothing learned: pair logit 1 where argmax(first) <= argmax(second)."""

    def forward(self, digit_logits):
        predicted = digit_logits.argmax(dim=2)
        decision = (predicted[:, 0] <= predicted[:, 1]).to(digit_logits.dtype)
        return torch.stack((1 - decision, decision), dim=1)


class ProbabilityComparison(nn.Module):
    """Nothing learned: P(first <= second) = sum over i <= j of p1(i) * p2(j),
    from the two digits' softmax probabilities; pair logits are its log-odds."""

    def __init__(self):
        super().__init__()
        self.register_buffer('lesser_or_equal', torch.ones(DIGITS, DIGITS).triu(), persistent=False)

    def forward(self, digit_logits):
        p = digit_logits.float().softmax(dim=-1)
        if p.dim() == 4:  # the members of an ensemble in training: (N, 2, members, 10)
            p = p.mean(2)
        p_le = torch.einsum('ni,ij,nj->n', p[:, 0], self.lesser_or_equal, p[:, 1])
        p_le = p_le.clamp(1e-6, 1 - 1e-6)
        return torch.stack((torch.log1p(-p_le), torch.log(p_le)), dim=1)


class PairNet(nn.Module):
    """Two digit towers (or one shared tower) and a comparison head.

    make_tower() builds one tower (1x14x14 -> 10 scores); `aux` makes forward
    return the digit scores, so that the auxiliary loss trains them."""

    def __init__(self, make_tower, share, aux, comparison):
        super().__init__()
        self.share, self.aux = share, aux
        self.towers = nn.ModuleList([make_tower() for _ in range(1 if share else 2)])
        self.comparison = comparison
        # A fixed comparison has nothing to learn from the pair target.
        self.learns_comparison = any(p.requires_grad for p in self.comparison.parameters())

    def digit_logits(self, x):
        n = x.size(0)
        if self.share:  # both images in one batch through the one tower
            scores = self.towers[0](x.reshape(2 * n, 1, *x.shape[2:]))
            return scores.view(n, 2, *scores.shape[1:])
        return torch.stack([tower(x[:, i:i + 1]) for i, tower in enumerate(self.towers)], dim=1)

    def forward(self, x):
        digits = self.digit_logits(x)
        return self.comparison(digits), (digits if self.aux else None)


class TwoChannelNet(nn.Module):
    """One network on the whole pair (N, 2, 14, 14) -> pair logits, target loss only."""

    learns_comparison = True

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x), None


def family_member(encoder, share, aux, softmax=None):
    """The main family. With the auxiliary loss the 10 scores are digit classes,
    and the head reads their probabilities; without it they are free features,
    read raw. Validation error, 6 rounds of 800/200 splits (results/heads.txt):
    cnn_ws_aux 11.7% raw -> 3.8% softmax, mlp_ws_aux 13.5% -> 7.2%, but
    cnn_ws 15.4% -> 20.5%. `softmax` overrides that choice (for the ablation)."""
    head = LearnedComparison(softmax=aux if softmax is None else softmax)
    return PairNet(partial(digit_tower, encoder), share, aux, head)


def course_convnet():
    """Report 002's model 1, the course's reference size: 70,906 parameters."""
    return TwoChannelNet(nn.Sequential(cnn_encoder(in_channels=2), nn.Linear(200, 2)))


@dataclass(frozen=True)
class ModelSpec:
    description: str
    build: Callable[[], nn.Module]
    settings: dict = field(default_factory=dict)  # training settings that differ from train.DEFAULTS


def _family():
    specs = {}
    for encoder in ENCODERS:
        for share in (False, True):
            for aux in (False, True):
                name = encoder + ('_ws' if share else '') + ('_aux' if aux else '')
                description = (f'{encoder.upper()} digit towers, '
                               + ('one shared tower' if share else 'one tower per image')
                               + (', target + auxiliary digit losses' if aux else ', target loss only')
                               + ', learned comparison')
                specs[name] = ModelSpec(description, partial(family_member, encoder, share, aux))
    return specs


# ---------------------------------------------------------------------------
# The systems of the five reports in shared/seeds/ (see REPRODUCTION.md).
# Where a report leaves a size or a setting open, the choice is written here.

def conv_bn_relu(cin, cout):
    return [nn.Conv2d(cin, cout, kernel_size=3), nn.BatchNorm2d(cout), nn.ReLU()]


def linear_bn_relu(cin, cout):
    return [nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU()]


def r000_tower(channels, hidden):
    """Report 000's digit network: 4 Conv-BN-ReLU blocks (max-pool before the
    4th; 14 -> 12 -> 10 -> 8 -> 4 -> 2), 2 Linear-BN-ReLU blocks, 10 outputs."""
    c1, c2, c3, c4 = channels
    return nn.Sequential(*conv_bn_relu(1, c1), *conv_bn_relu(c1, c2), *conv_bn_relu(c2, c3),
                         nn.MaxPool2d(2), *conv_bn_relu(c3, c4), nn.Flatten(),
                         *linear_bn_relu(c4 * 4, hidden), *linear_bn_relu(hidden, hidden),
                         nn.Linear(hidden, DIGITS))


def r000_base_mlp():
    """Report 000's Fig. 2: the pair flattened (392) -> 512 -> 512 -> 2."""
    return TwoChannelNet(nn.Sequential(nn.Flatten(), *linear_bn_relu(2 * IMAGE_PIXELS, 512),
                                       *linear_bn_relu(512, 512), nn.Linear(512, 2)))


def r000_base_cnn():
    """Report 000's BaseNetCNN: 3 Conv-BN-ReLU blocks, max-pool, 2 Linear-BN-ReLU, Linear."""
    return TwoChannelNet(nn.Sequential(*conv_bn_relu(2, 32), *conv_bn_relu(32, 64),
                                       *conv_bn_relu(64, 64), nn.MaxPool2d(2), nn.Flatten(),
                                       *linear_bn_relu(64 * 4 * 4, 128),
                                       *linear_bn_relu(128, 128), nn.Linear(128, 2)))


def cnn_tower(batchnorm=False, dropout=0.0):
    """The course convnet as a digit tower (72,226 parameters), optionally with
    BatchNorm after each convolution and hidden layer, and dropout before the
    last two linear layers (report 003's variants)."""
    norm2d = (lambda c: [nn.BatchNorm2d(c)]) if batchnorm else (lambda c: [])
    drop = [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3), *norm2d(32), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=3), *norm2d(64), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), *drop, nn.Linear(256, 200), *([nn.BatchNorm1d(200)] if batchnorm else []),
        nn.ReLU(), *drop, nn.Linear(200, DIGITS))


def lenet5_features(in_channels):
    """LeNet-5 on 14x14 (padding 2 keeps 14 -> 14 -> 7 -> 7 -> 3): 144 features."""
    return [nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 3 * 3, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU()]


def lenet5_tower():
    return nn.Sequential(*lenet5_features(1), nn.Linear(84, DIGITS))


def r004_basic_mlp():
    """Report 004's basic MLPNet: the pair flattened (392) -> 256 -> 128 -> 2."""
    return TwoChannelNet(nn.Sequential(nn.Flatten(), nn.Linear(2 * IMAGE_PIXELS, 256), nn.ReLU(),
                                       nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 2)))


def pair_model(make_tower, share, aux, **head):
    return PairNet(make_tower, share, aux, LearnedComparison(**head))


def digits_only(make_tower):
    """A shared digit classifier; the pair = compare its two predicted digits."""
    return PairNet(make_tower, share=True, aux=True, comparison=ArgmaxComparison())


def _report_models():
    r000 = dict(epochs=30, target_weight=0.1)
    # Report 002 tuned SGD's rate per model and gives none; 0.05 won over 0.005 and 0.02
    # on validation (python test.py --models r002_model1,r002_model3 --rounds 2
    # --seed 100 --validation 200 --lr LR): model 3 14.5%, 10.0%, 7.2%.
    r002 = dict(optimizer='sgd', momentum=0.0, lr=0.05, batch_size=10)
    r003 = dict(swap='flip')
    r004 = dict(lr=0.01, batch_size=200)
    r004_aux = dict(r004, target_weight=0.3, aux_weight=0.5)
    specs = {
        'r000_basenet_mlp': ModelSpec('report 000 BaseNetMLP: pair MLP 392-512-512-2 with BatchNorm',
                                      r000_base_mlp, dict(epochs=30)),
        'r000_basenet_cnn': ModelSpec('report 000 BaseNetCNN: 3 conv + 2 linear blocks with BatchNorm',
                                      r000_base_cnn, dict(epochs=30)),
        'r000_auxnet': ModelSpec(
            'report 000 AuxNet: two towers of 4 conv + 2 linear BN blocks, aux loss, '
            'loss 0.1*L_out + 1*(L_auxA + L_auxB)',
            partial(pair_model, partial(r000_tower, (16, 32, 32, 64), 64), False, True,
                    hidden=(32, 32), batchnorm=True), r000),
        'r000_siamesenet': ModelSpec(
            'report 000 SiameseNet: AuxNet with one shared, smaller tower',
            partial(pair_model, partial(r000_tower, (32, 32, 64, 64), 64), True, True,
                    hidden=(32, 32), batchnorm=True), r000),
    }
    for family, tower, head, settings in (
            ('convnet', partial(digit_tower, 'cnn'), (10,), dict(epochs=50)),
            ('mlp', partial(digit_tower, 'mlp'), (100,), dict(batch_size=25))):
        for share in (False, True):
            for aux in (False, True):
                suffix = ('_ws' if share else '') + ('_al' if aux else '')
                specs[f'r001_{family}{suffix}'] = ModelSpec(
                    f'report 001 {"ConvNet" if family == "convnet" else "MLP"}{suffix.upper()}: '
                    f'{"shared" if share else "two"} tower(s), head 20-{head[0]}-2'
                    + (', aux loss' if aux else ''),
                    partial(pair_model, tower, share, aux, hidden=head), settings)
    specs.update({
        'r002_model1': ModelSpec('report 002 model 1: CNN on the 2-channel pair',
                                 course_convnet, r002),
        'r002_model2': ModelSpec('report 002 model 2: two CNN towers, aux loss, learned comparison',
                                 partial(pair_model, partial(digit_tower, 'cnn'), False, True,
                                         hidden=(128,)), r002),
        'r002_model3': ModelSpec('report 002 model 3: shared CNN tower, aux loss, learned comparison',
                                 partial(pair_model, partial(digit_tower, 'cnn'), True, True,
                                         hidden=(128,)), r002),
        'r002_model4': ModelSpec('report 002 model 4: shared CNN digit classifier, hard-coded '
                                 'comparison', partial(digits_only, partial(digit_tower, 'cnn')),
                                 r002),
        'r003_transferlearn': ModelSpec('report 003 TransferLearn: digit recogniser + logic '
                                        'comparison', partial(digits_only, cnn_tower), r003),
    })
    variants = (('nows', False, False, {}), ('ws', True, False, {}), ('ws_aux', True, True, {}),
                ('ws_aux_bn', True, True, dict(batchnorm=True)),
                ('ws_aux_bn_drop', True, True, dict(batchnorm=True, dropout=0.25)))
    for name, share, aux, tower in variants:
        build = partial(pair_model, partial(cnn_tower, **tower), share, aux, hidden=(20, 20),
                        softmax=True)
        settings = dict(r003, aux_weight=0.5)
        label = f'report 003 Siamese {name.upper().replace("_", ",")}'
        specs[f'r003_siamese_{name}'] = ModelSpec(
            label + ': swap augmentation with the target flipped (the report\'s flaw)',
            build, settings)
        specs[f'r003_siamese_{name}_fixed'] = ModelSpec(
            label + ', corrected: swapped target recomputed from the digits',
            build, dict(settings, swap='recompute'))
    for family, tower, basic in (('mlpnet', partial(digit_tower, 'mlp'), r004_basic_mlp),
                                 ('lenet5', lenet5_tower,
                                  lambda: TwoChannelNet(nn.Sequential(*lenet5_features(2),
                                                                      nn.Linear(84, 2))))):
        specs[f'r004_{family}_basic'] = ModelSpec(f'report 004 {family} basic: the 2-channel pair',
                                                  basic, r004)
        for share, aux, suffix in ((True, False, 'ws'), (False, True, 'aux'), (True, True, 'ws_aux')):
            specs[f'r004_{family}_{suffix}'] = ModelSpec(
                f'report 004 {family} {suffix.replace("_", " + ")}',
                partial(pair_model, tower, share, aux, hidden=(64,)), r004_aux if aux else r004)
    return specs


# ---------------------------------------------------------------------------
# `best`: the most accurate model (README, "Accuracy").

def bn_cnn_tower(width=32, hidden=128, dropout=0.3):
    """A deeper digit tower with BatchNorm: two 3x3 conv pairs (width, 2*width),
    each followed by a max-pool (14 -> 7 -> 3), then one hidden layer."""
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*block(1, width), *block(width, width), nn.MaxPool2d(2),
                         *block(width, 2 * width), *block(2 * width, 2 * width), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(2 * width * 9, hidden, bias=False),
                         nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, DIGITS))


class ShiftAveraged(nn.Module):
    """A digit tower that, in eval mode, averages its digit probabilities over
    the image and its four one-pixel shifts (test-time augmentation); it
    returns the log of the averaged probabilities. Training is unchanged."""

    SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))

    def __init__(self, tower):
        super().__init__()
        self.tower = tower

    def forward(self, x):
        if self.training:
            return self.tower(x)
        shifted = torch.cat([torch.roll(x, shift, dims=(2, 3)) for shift in self.SHIFTS])
        probabilities = self.tower(shifted).softmax(1).view(len(self.SHIFTS), x.size(0), -1)
        return probabilities.mean(0).log()


class EnsembleTower(nn.Module):
    """Several digit towers trained side by side on the same batches, each on
    its own digit loss: in training mode the scores of every member, (N,
    members, 10); in eval mode the log of the members' mean probabilities."""

    def __init__(self, make_tower, members):
        super().__init__()
        self.members = nn.ModuleList([make_tower() for _ in range(members)])

    def forward(self, x):
        scores = torch.stack([member(x) for member in self.members], dim=1)
        if self.training:
            return scores
        return scores.softmax(2).mean(1).log()


BEST_SETTINGS = dict(epochs=30, batch_size=100, lr=3e-3, schedule='onecycle',
                     label_smoothing=0.1, augment=dict(shift=1.5, rotate=12.0, scale=0.1))


def best_model(tower=bn_cnn_tower, comparison=ProbabilityComparison, tta=False, members=1,
               **tower_options):
    make_tower = partial(tower, **tower_options)
    if tta:
        make_tower = lambda: ShiftAveraged(partial(tower, **tower_options)())  # noqa: E731
    if members > 1:
        make_tower = partial(EnsembleTower, make_tower, members)
    return PairNet(make_tower, share=True, aux=True, comparison=comparison())


MODELS = {
    **_family(),
    'cnn_2ch': ModelSpec('one CNN on the pair as a 2-channel image, target loss only',
                         course_convnet),
    'cnn_digits': ModelSpec('shared CNN digit classifier trained on digit labels only; '
                            'pair = compare the two predicted digits',
                            lambda: PairNet(partial(digit_tower, 'cnn'), share=True, aux=True,
                                            comparison=ArgmaxComparison())),
}
DEFAULT_SUITE = list(MODELS)
# The head-input ablation: the family's choice reversed (README, "The models").
HEAD_ABLATION = {
    'cnn_ws_aux_rawhead': ModelSpec('cnn_ws_aux with the head reading raw scores',
                                    partial(family_member, 'cnn', True, True, softmax=False)),
    'mlp_ws_aux_rawhead': ModelSpec('mlp_ws_aux with the head reading raw scores',
                                    partial(family_member, 'mlp', True, True, softmax=False)),
    'cnn_ws_softhead': ModelSpec('cnn_ws with the head reading softmax probabilities',
                                 partial(family_member, 'cnn', True, False, softmax=True)),
}
MODELS.update(HEAD_ABLATION)
# Development variants of `best`, compared on validation splits only.
BEST_VARIANTS = {
    'best_w24': ModelSpec('best with a narrower tower (width 24)', partial(best_model, width=24),
                          dict(BEST_SETTINGS, epochs=60)),
    'best_w24_tta': ModelSpec('best_w24, test-time averaging over one-pixel shifts',
                              partial(best_model, width=24, tta=True), dict(BEST_SETTINGS, epochs=60)),
    'best_ens3_w16_tta': ModelSpec(
        'three width-16 best_w24_tta towers trained side by side, probabilities averaged',
        partial(best_model, width=16, tta=True, members=3), dict(BEST_SETTINGS, epochs=40)),
    'best_ens2_w24_tta': ModelSpec(
        'two best_w24_tta towers trained side by side, probabilities averaged',
        partial(best_model, width=24, tta=True, members=2), dict(BEST_SETTINGS, epochs=35)),
    'best_ens4_course_tta': ModelSpec(
        "four course CNN towers (no BatchNorm) trained side by side with best's recipe, "
        'probabilities averaged', partial(best_model, tower=partial(digit_tower, 'cnn'), tta=True,
                                          members=4), dict(BEST_SETTINGS, epochs=60)),
    'best_ens2_w24_tta_30': ModelSpec(
        'two best towers trained side by side for 30 epochs, probabilities averaged',
        partial(best_model, width=24, tta=True, members=2), dict(BEST_SETTINGS, epochs=30)),
    'best_strong_augment': ModelSpec(
        'best with stronger moves of the training digits (shift 2, rotation 15, scale 0.15)',
        partial(best_model, width=24, tta=True),
        dict(BEST_SETTINGS, epochs=60, augment=dict(shift=2.0, rotate=15.0, scale=0.15))),
    'best_w24_tta_elastic': ModelSpec(
        'best_w24_tta with elastic warps of up to 1 pixel', partial(best_model, width=24, tta=True),
        dict(BEST_SETTINGS, epochs=60, augment=dict(BEST_SETTINGS['augment'], elastic=1.0))),
    'best_weight_decay': ModelSpec('best with decoupled weight decay 0.05 (AdamW)',
                                   partial(best_model, width=24, tta=True),
                                   dict(BEST_SETTINGS, epochs=60, weight_decay=0.05)),
    'best_erase': ModelSpec('best with a random 4x4 square of each training digit erased (cutout)',
                            partial(best_model, width=24, tta=True),
                            dict(BEST_SETTINGS, epochs=60,
                                 augment=dict(BEST_SETTINGS['augment'], erase=4))),
    'best_ens4_over_budget': ModelSpec(
        'four best towers trained side by side, probabilities averaged: about 4 times '
        "best's time, over the 60 s budget (to see what the budget costs)",
        partial(best_model, width=24, tta=True, members=4), dict(BEST_SETTINGS, epochs=60)),
}
MODELS.update(BEST_VARIANTS)
# `best`: chosen on validation splits only (README, "Accuracy"; results/best_dev/).
BEST_RECIPE = dict(BEST_SETTINGS, epochs=60)
MODELS['best'] = ModelSpec('shared BatchNorm CNN digit classifier (width 24), augmented digits, '
                           'one-cycle rate, test-time shift averaging; pair = exact '
                           'P(first <= second) from the digit probabilities',
                           partial(best_model, width=24, tta=True), BEST_RECIPE)


def _best_ablation():
    """`best` with one ingredient taken out or replaced, one model each."""
    build, settings = partial(best_model, width=24, tta=True), BEST_RECIPE
    without = lambda **changes: dict(settings, **changes)  # noqa: E731
    return {
        'best_no_tta': ModelSpec('best without test-time shift averaging',
                                 partial(best_model, width=24), settings),
        'best_no_augment': ModelSpec('best trained on the digits as they are', build,
                                     without(augment=None)),
        'best_no_smoothing': ModelSpec('best without label smoothing', build,
                                       without(label_smoothing=0.0)),
        'best_constant_lr': ModelSpec('best at a constant rate (Adam 1e-3), no one-cycle',
                                      build, without(schedule=None, lr=1e-3)),
        'best_30_epochs': ModelSpec('best trained 30 epochs instead of 60', build,
                                    without(epochs=30)),
        'best_argmax_head': ModelSpec('best comparing the two argmax digits instead of P(a<=b)',
                                      partial(best_model, width=24, tta=True,
                                              comparison=ArgmaxComparison), settings),
        'best_learned_head': ModelSpec(
            'best with a learned head (20-64-2 on the probabilities) instead of P(a<=b)',
            partial(best_model, width=24, tta=True,
                    comparison=partial(LearnedComparison, softmax=True)), settings),
        'best_course_tower': ModelSpec("best's training and head on the course CNN tower "
                                       '(no BatchNorm)',
                                       partial(best_model, tower=partial(digit_tower, 'cnn'),
                                               tta=True), settings),
    }


BEST_ABLATION = _best_ablation()
MODELS.update(BEST_ABLATION)
REPORT_MODELS = _report_models()
MODELS.update(REPORT_MODELS)
GROUPS = {'main': DEFAULT_SUITE, 'reports': list(REPORT_MODELS),
          'ablation': ['best', *BEST_ABLATION],
          'heads': ['cnn_ws_aux', 'cnn_ws_aux_rawhead', 'mlp_ws_aux', 'mlp_ws_aux_rawhead',
                    'cnn_ws', 'cnn_ws_softhead'],
          **{report: [n for n in REPORT_MODELS if n.startswith(report + '_')]
             for report in ('r000', 'r001', 'r002', 'r003', 'r004')}}


def build_model(name):
    if name not in MODELS:
        raise KeyError(f'unknown model {name!r}; known: {", ".join(MODELS)}')
    return MODELS[name].build()


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


if __name__ == '__main__':
    for name, spec in MODELS.items():
        print(f'{name:12s} {count_parameters(spec.build()):>8,d}  {spec.description}')
