"""The project's architectures: a few small parts and the table of names.

A pair model sees an input (N, 2, 14, 14) and returns `(pair_logits, digit_logits)`:
pair_logits (N, 2) score "first digit <= second"; digit_logits (N, 2, 10) are
the two digits' class scores when the model is trained with the auxiliary
loss, else None.

Parts:
  digit tower      one 1x14x14 image -> 10 scores: an MLP (`mlp_tower`), the
                   course's convnet (`course_cnn`) or best's BatchNorm convnet
                   (`bn_cnn`)
  weight sharing   one tower for both images, else one tower per image
  auxiliary loss   the 10 scores of each image are trained on its digit label,
                   and the comparison head reads them as probabilities (the
                   parameters are the same either way)
  comparison head  the 2x10 scores -> pair logits: learned (a small MLP), or
                   fixed (compare the two predicted digits, or the exact
                   P(first <= second) from their probabilities)

Read top-down: the course's parts and the ten models of the main comparison
(`MAIN`), then `best` and the time-to-accuracy records with their parts, then
the five reports' systems. `MODELS` names every model, with its training
settings where they differ from train.DEFAULTS; `GROUPS` names sets of them:
main, heads, ablation, records, course_budget_ablation, fast_ablation, reports,
and r000 ... r004 (python test.py --list shows them).

Example:
    python test.py --list       # every model with its parameter count, by group
"""

from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch
from torch import nn

IMAGE_PIXELS = 14 * 14
DIGITS = 10


# --- The course's parts: two towers, two heads, the pair models ---------------------

def mlp_tower(inputs=IMAGE_PIXELS, outputs=DIGITS):
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, 256), nn.ReLU(),
                         nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, outputs))


def course_cnn(in_channels=1, outputs=DIGITS, batchnorm=False, dropout=0.0):
    """The course's LeNet-like convnet (72,226 parameters as a digit tower); BatchNorm
    is the records', dropout report 003's."""
    norm = (lambda layer, c: [layer(c)]) if batchnorm else (lambda layer, c: [])
    drop = [nn.Dropout(dropout)] if dropout else []
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, kernel_size=3), *norm(nn.BatchNorm2d, 32),  # 14 -> 12
        nn.MaxPool2d(2), nn.ReLU(),                                             # -> 6
        nn.Conv2d(32, 64, kernel_size=3), *norm(nn.BatchNorm2d, 64),            # -> 4
        nn.MaxPool2d(2), nn.ReLU(),                                             # -> 2
        nn.Flatten(), *drop, nn.Linear(64 * 2 * 2, 200), *norm(nn.BatchNorm1d, 200), nn.ReLU(),
        *drop, nn.Linear(200, outputs))


def conv_bn_relu(cin, cout, **conv):
    return [nn.Conv2d(cin, cout, kernel_size=3, **conv), nn.BatchNorm2d(cout), nn.ReLU()]


def linear_bn_relu(cin, cout, batchnorm=True):
    return [nn.Linear(cin, cout), *([nn.BatchNorm1d(cout)] if batchnorm else []), nn.ReLU()]


class LearnedComparison(nn.Sequential):
    """The two digits' 10 scores -> pair logits by an MLP, on the scores' softmax
    probabilities with `softmax`, else on the raw scores."""

    def __init__(self, hidden=(64,), softmax=False, batchnorm=False):
        layers, width = [], 2 * DIGITS
        for size in hidden:
            layers += linear_bn_relu(width, size, batchnorm)
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


class PairNet(nn.Module):
    """Two digit towers, or one shared, and a comparison head: every model but the
    2-channel ones. `aux` returns the digit scores too, for the auxiliary loss;
    `tta` wraps each tower in ShiftAveraged."""

    def __init__(self, tower, share=True, aux=True, head=ArgmaxComparison, tta=False):
        super().__init__()
        comparison = head()  # drawn before the towers: the order the results were made with
        self.share, self.aux = share, aux
        make = (lambda: ShiftAveraged(tower())) if tta else tower
        self.towers = nn.ModuleList([make() for _ in range(1 if share else 2)])
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


@dataclass(frozen=True)
class ModelSpec:
    description: str
    build: Callable[[], nn.Module]
    settings: dict = field(default_factory=dict)  # training settings that differ from train.DEFAULTS


# --- The main comparison: ten models ---------------------------------------------------

TOWERS = {'mlp': mlp_tower, 'cnn': course_cnn}


def learned(tower, share, aux, **head):
    return partial(PairNet, tower, share, aux, partial(LearnedComparison, **head))


def siamese(encoder, share, aux):
    """A main-family model. With the auxiliary loss the 10 scores are digit
    classes, and the head reads their probabilities; without it they are free
    features, read raw. Validation error, 6 rounds of 800/200 splits
    (report/results/heads.txt): cnn_ws_aux 11.7% raw -> 3.8% softmax,
    mlp_ws_aux 13.5% -> 7.2%, but cnn_ws 15.4% -> 20.5%."""
    return ModelSpec(f'{encoder.upper()} digit towers, '
                     + ('one shared tower' if share else 'one tower per image')
                     + (', target + auxiliary digit losses' if aux else ', target loss only')
                     + ', learned comparison', learned(TOWERS[encoder], share, aux, softmax=aux))


def two_channel_cnn():
    return TwoChannelNet(course_cnn(in_channels=2, outputs=2))


digit_classifier = partial(PairNet, course_cnn)  # one shared tower, its two digits compared


MAIN = {
    'mlp': siamese('mlp', share=False, aux=False),
    'mlp_aux': siamese('mlp', share=False, aux=True),
    'mlp_ws': siamese('mlp', share=True, aux=False),
    'mlp_ws_aux': siamese('mlp', share=True, aux=True),
    'cnn': siamese('cnn', share=False, aux=False),
    'cnn_aux': siamese('cnn', share=False, aux=True),
    'cnn_ws': siamese('cnn', share=True, aux=False),
    'cnn_ws_aux': siamese('cnn', share=True, aux=True),
    'cnn_2ch': ModelSpec("one CNN on the pair as a 2-channel image, target loss only (the course's "
                         "reference size, report 002's model 1)", two_channel_cnn),
    'cnn_digits': ModelSpec('shared CNN digit classifier trained on digit labels only; pair = '
                            'compare the two predicted digits', digit_classifier),
}

# The head-input ablation: the family's choice reversed (report/EXPERIMENTS.md, "Head input").
HEADS = {
    'cnn_ws_aux_rawhead': ModelSpec('cnn_ws_aux with the head reading raw scores',
                                    learned(course_cnn, True, True, softmax=False)),
    'mlp_ws_aux_rawhead': ModelSpec('mlp_ws_aux with the head reading raw scores',
                                    learned(mlp_tower, True, True, softmax=False)),
    'cnn_ws_softhead': ModelSpec('cnn_ws with the head reading softmax probabilities',
                                 learned(course_cnn, True, False, softmax=True)),
}


# --- best, the accuracy model, and its ablation ------------------------------------------
# Chosen on validation splits only (report/EXPERIMENTS.md, "Accuracy"; report/results/best_dev/).

BEST = dict(epochs=60, batch_size=100, lr=3e-3, schedule='onecycle', label_smoothing=0.1,
            augment=dict(shift=1.5, rotate=12.0, scale=0.1))


def bn_cnn(width=24, hidden=128, dropout=0.3):
    """best's digit tower: two pairs of padded 3x3 convolutions with BatchNorm,
    each pair max-pooled (14 -> 7 -> 3), then one hidden layer with dropout."""
    block = partial(conv_bn_relu, padding=1, bias=False)
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


class ProbabilityComparison(nn.Module):
    """Nothing learned: P(first <= second) = sum over i <= j of p1(i) * p2(j),
    from the two digits' softmax probabilities; pair logits are its log-odds."""

    def __init__(self):
        super().__init__()
        self.register_buffer('lesser_or_equal', torch.ones(DIGITS, DIGITS).triu(), persistent=False)

    def forward(self, digit_logits):
        p = digit_logits.float().softmax(dim=-1)
        p_le = torch.einsum('ni,ij,nj->n', p[:, 0], self.lesser_or_equal, p[:, 1])
        p_le = p_le.clamp(1e-6, 1 - 1e-6)
        return torch.stack((torch.log1p(-p_le), torch.log(p_le)), dim=1)


def best_net(tower=bn_cnn, head=ProbabilityComparison, tta=True):
    """best's architecture: one shared tower, trained on the digit labels only."""
    return PairNet(tower, head=head, tta=tta)


BEST_ABLATION = {
    'best_no_tta': ModelSpec('best without test-time shift averaging',
                             partial(best_net, tta=False), BEST),
    'best_no_augment': ModelSpec('best trained on the digits as they are', best_net,
                                 dict(BEST, augment=None)),
    'best_no_smoothing': ModelSpec('best without label smoothing', best_net,
                                   dict(BEST, label_smoothing=0.0)),
    'best_constant_lr': ModelSpec('best at a constant rate (Adam 1e-3), no one-cycle', best_net,
                                  dict(BEST, schedule=None, lr=1e-3)),
    'best_30_epochs': ModelSpec('best trained 30 epochs instead of 60', best_net,
                                dict(BEST, epochs=30)),
    'best_argmax_head': ModelSpec('best comparing the two argmax digits instead of P(a<=b)',
                                  partial(best_net, head=ArgmaxComparison), BEST),
    'best_learned_head': ModelSpec(
        'best with a learned head (20-64-2 on the probabilities) instead of P(a<=b)',
        partial(best_net, head=partial(LearnedComparison, softmax=True)), BEST),
    'best_course_tower': ModelSpec("best's training and head on the course CNN tower "
                                   '(no BatchNorm)', partial(best_net, course_cnn), BEST),
}

# --- The time-to-accuracy records (one core; report/EXPERIMENTS.md, "Time-to-accuracy") ----
# best's head and training on the course's convnet with BatchNorm, at batch 50 and
# a higher peak rate: chosen on 5-fold cross-validation of the training pairs.

RECORD_TRAINING = dict(BEST, batch_size=50, lr=2e-2)


record_net = partial(best_net, partial(course_cnn, batchnorm=True))


class Ensemble(nn.Module):
    """Pair models trained one after another (train.train); their digit
    probabilities are averaged, and `head` compares the averaged digits."""

    learns_comparison, aux = False, True

    def __init__(self, member, count, head=ProbabilityComparison):
        super().__init__()
        self.members = nn.ModuleList([member() for _ in range(count)])
        self.comparison = head()

    def forward(self, x):
        probabilities = torch.stack([member.digit_logits(x).softmax(-1) for member in self.members])
        digits = probabilities.mean(0).log()
        return self.comparison(digits), digits


RECORDS = {
    'course_budget': ModelSpec('the best error within 2 s per round: the course CNN with '
                               "BatchNorm, best's head and training, 12 epochs at batch 50",
                               partial(record_net, tta=False), dict(RECORD_TRAINING, epochs=12)),
    'fast': ModelSpec('the best error within 10 s per round: course_budget trained 35 epochs '
                      'at a peak rate of 1e-2, with test-time shift averaging',
                      partial(record_net, tta=True), dict(RECORD_TRAINING, epochs=35, lr=1e-2)),
}
RECORDS['fast_ensemble'] = ModelSpec(
    'the accuracy record: 8 fast models trained one after another, their digit '
    'probabilities averaged', partial(Ensemble, RECORDS['fast'].build, 8),
    RECORDS['fast'].settings)


def record_ablation(name):
    """Record `name` with one ingredient changed at a time: what each buys."""
    spec = RECORDS[name]
    tta = spec.build.keywords['tta']
    settings = spec.settings
    variants = {
        'no_batchnorm': ('on the course CNN without BatchNorm', partial(best_net, course_cnn, tta=tta),
                         settings),
        'no_augment': ('trained on the digits as they are', spec.build, dict(settings, augment=None)),
        'no_smoothing': ('without label smoothing', spec.build, dict(settings, label_smoothing=0.0)),
        'batch_100': ("at the course's batch of 100 pairs", spec.build, dict(settings, batch_size=100)),
        'best_rate': ("at best's peak rate, 3e-3", spec.build, dict(settings, lr=BEST['lr'])),
        'no_tta' if tta else 'tta': (('without' if tta else 'with') + ' test-time shift averaging',
                                     partial(record_net, tta=not tta), settings),
    }
    return {f'{name}_{key}': ModelSpec(f'{name} {text}', build, changed)
            for key, (text, build, changed) in variants.items()}


RECORD_ABLATIONS = {name: record_ablation(name) for name in ('course_budget', 'fast')}

# --- The five reports' systems (../shared/seeds/000 ... 004) -------------------------
# Built from the parts above where a report's text allows; where it leaves a size or a
# setting open, the choice is written here. Their published numbers and the gaps
# explained are in report/reproduction.py, which writes report/REPRODUCTION.md.

def r000_tower(channels, hidden):
    """Report 000's digit network (14 -> 12 -> 10 -> 8 -> 4 -> 2)."""
    c1, c2, c3, c4 = channels
    return nn.Sequential(*conv_bn_relu(1, c1), *conv_bn_relu(c1, c2), *conv_bn_relu(c2, c3),
                         nn.MaxPool2d(2), *conv_bn_relu(c3, c4), nn.Flatten(),
                         *linear_bn_relu(c4 * 4, hidden), *linear_bn_relu(hidden, hidden),
                         nn.Linear(hidden, DIGITS))


def r000_base_mlp():
    """Report 000's Fig. 2."""
    return TwoChannelNet(nn.Sequential(nn.Flatten(), *linear_bn_relu(2 * IMAGE_PIXELS, 512),
                                       *linear_bn_relu(512, 512), nn.Linear(512, 2)))


def r000_base_cnn():
    return TwoChannelNet(nn.Sequential(*conv_bn_relu(2, 32), *conv_bn_relu(32, 64),
                                       *conv_bn_relu(64, 64), nn.MaxPool2d(2), nn.Flatten(),
                                       *linear_bn_relu(64 * 4 * 4, 128),
                                       *linear_bn_relu(128, 128), nn.Linear(128, 2)))


def r001(family, share, aux):
    """Report 001's ConvNet or MLP family, heads 20-10-2 and 20-100-2."""
    tower, hidden, settings = dict(ConvNet=(course_cnn, 10, dict(epochs=50)),
                                   MLP=(mlp_tower, 100, dict(batch_size=25)))[family]
    suffix = ('_WS' if share else '') + ('_AL' if aux else '')
    return ModelSpec(f'report 001 {family}{suffix}: {"shared" if share else "two"} tower(s), '
                     f'head 20-{hidden}-2' + (', aux loss' if aux else ''),
                     learned(tower, share, aux, hidden=(hidden,)), settings)


# Report 002 tuned SGD's rate per model and gives none; 0.05 won over 0.005 and 0.02
# on validation (python test.py --models r002_model1,r002_model3 --rounds 2
# --seed 100 --validation 200 --lr LR): model 3 14.5%, 10.0%, 7.2%.
R002 = dict(optimizer='sgd', momentum=0.0, lr=0.05, batch_size=10)


def r003_siamese(variant, share, aux, fixed=False, **tower):
    """Report 003's Siamese variants, trained on the pairs doubled by swapping with
    the report's flipped target or, `fixed`, the target recomputed."""
    label = f'report 003 Siamese {variant}'
    return ModelSpec(label + (', corrected: swapped target recomputed from the digits' if fixed else
                              ": swap augmentation with the target flipped (the report's flaw)"),
                     learned(partial(course_cnn, **tower), share, aux, hidden=(20, 20), softmax=True),
                     dict(swap='recompute' if fixed else 'flip', aux_weight=0.5))


def lenet5(in_channels=1, outputs=DIGITS):
    """LeNet-5 on 14x14 (padding 2 keeps 14 -> 14 -> 7 -> 7 -> 3)."""
    return nn.Sequential(nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 3 * 3, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, outputs))


R004 = dict(lr=0.01, batch_size=200)


def r004(family, share, aux):
    """Report 004's MLPNet or LeNet5 towers with a 20-64-2 head."""
    tower = dict(mlpnet=mlp_tower, lenet5=lenet5)[family]
    return ModelSpec(f"report 004 {family} {' + '.join(['ws'] * share + ['aux'] * aux)}",
                     learned(tower, share, aux, hidden=(64,)),
                     dict(R004, target_weight=0.3, aux_weight=0.5) if aux else R004)


R000 = dict(epochs=30, target_weight=0.1)
REPORT_SYSTEMS = {
    'r000_basenet_mlp': ModelSpec('report 000 BaseNetMLP: pair MLP 392-512-512-2 with BatchNorm',
                                  r000_base_mlp, dict(epochs=30)),
    'r000_basenet_cnn': ModelSpec('report 000 BaseNetCNN: 3 conv + 2 linear blocks with BatchNorm',
                                  r000_base_cnn, dict(epochs=30)),
    'r000_auxnet': ModelSpec('report 000 AuxNet: two towers of 4 conv + 2 linear BN blocks, aux '
                             'loss, loss 0.1*L_out + 1*(L_auxA + L_auxB)',
                             learned(partial(r000_tower, (16, 32, 32, 64), 64), False, True,
                                     hidden=(32, 32), batchnorm=True), R000),
    'r000_siamesenet': ModelSpec('report 000 SiameseNet: AuxNet with one shared, smaller tower',
                                 learned(partial(r000_tower, (32, 32, 64, 64), 64), True, True,
                                         hidden=(32, 32), batchnorm=True), R000),
    'r001_convnet': r001('ConvNet', share=False, aux=False),
    'r001_convnet_al': r001('ConvNet', share=False, aux=True),
    'r001_convnet_ws': r001('ConvNet', share=True, aux=False),
    'r001_convnet_ws_al': r001('ConvNet', share=True, aux=True),
    'r001_mlp': r001('MLP', share=False, aux=False),
    'r001_mlp_al': r001('MLP', share=False, aux=True),
    'r001_mlp_ws': r001('MLP', share=True, aux=False),
    'r001_mlp_ws_al': r001('MLP', share=True, aux=True),
    'r002_model1': ModelSpec('report 002 model 1: CNN on the 2-channel pair', two_channel_cnn, R002),
    'r002_model2': ModelSpec('report 002 model 2: two CNN towers, aux loss, learned comparison',
                             learned(course_cnn, False, True, hidden=(128,)), R002),
    'r002_model3': ModelSpec('report 002 model 3: shared CNN tower, aux loss, learned comparison',
                             learned(course_cnn, True, True, hidden=(128,)), R002),
    'r002_model4': ModelSpec('report 002 model 4: shared CNN digit classifier, hard-coded '
                             'comparison', digit_classifier, R002),
    'r003_transferlearn': ModelSpec('report 003 TransferLearn: digit recogniser + logic comparison',
                                    digit_classifier, dict(swap='flip')),
    'r003_siamese_nows': r003_siamese('NOWS', share=False, aux=False),
    'r003_siamese_nows_fixed': r003_siamese('NOWS', share=False, aux=False, fixed=True),
    'r003_siamese_ws': r003_siamese('WS', share=True, aux=False),
    'r003_siamese_ws_fixed': r003_siamese('WS', share=True, aux=False, fixed=True),
    'r003_siamese_ws_aux': r003_siamese('WS,AUX', share=True, aux=True),
    'r003_siamese_ws_aux_fixed': r003_siamese('WS,AUX', share=True, aux=True, fixed=True),
    'r003_siamese_ws_aux_bn': r003_siamese('WS,AUX,BN', True, True, batchnorm=True),
    'r003_siamese_ws_aux_bn_fixed': r003_siamese('WS,AUX,BN', True, True, True, batchnorm=True),
    'r003_siamese_ws_aux_bn_drop': r003_siamese('WS,AUX,BN,DROP', True, True,
                                                batchnorm=True, dropout=0.25),
    'r003_siamese_ws_aux_bn_drop_fixed': r003_siamese('WS,AUX,BN,DROP', True, True, True,
                                                      batchnorm=True, dropout=0.25),
    'r004_mlpnet_basic': ModelSpec('report 004 mlpnet basic: the 2-channel pair',
                                   lambda: TwoChannelNet(mlp_tower(2 * IMAGE_PIXELS, 2)), R004),
    'r004_mlpnet_ws': r004('mlpnet', share=True, aux=False),
    'r004_mlpnet_aux': r004('mlpnet', share=False, aux=True),
    'r004_mlpnet_ws_aux': r004('mlpnet', share=True, aux=True),
    'r004_lenet5_basic': ModelSpec('report 004 lenet5 basic: the 2-channel pair',
                                   lambda: TwoChannelNet(lenet5(2, 2)), R004),
    'r004_lenet5_ws': r004('lenet5', share=True, aux=False),
    'r004_lenet5_aux': r004('lenet5', share=False, aux=True),
    'r004_lenet5_ws_aux': r004('lenet5', share=True, aux=True),
}
REPORTS = ('r000', 'r001', 'r002', 'r003', 'r004')

# --- Every name a command can take ------------------------------------------------------

MODELS = {
    **MAIN,
    **HEADS,
    'best': ModelSpec('shared BatchNorm CNN digit classifier (width 24), augmented digits, '
                      'one-cycle rate, test-time shift averaging; pair = exact '
                      'P(first <= second) from the digit probabilities', best_net, BEST),
    **BEST_ABLATION,
    **RECORDS,
    **{name: spec for variants in RECORD_ABLATIONS.values() for name, spec in variants.items()},
    **REPORT_SYSTEMS,  # last, so that the project's own models come first
}
GROUPS = {'main': list(MAIN),  # the ten models of the comparison: python test.py runs them
          'heads': ['cnn_ws_aux', 'cnn_ws_aux_rawhead', 'mlp_ws_aux', 'mlp_ws_aux_rawhead',
                    'cnn_ws', 'cnn_ws_softhead'],  # the head-input ablation
          'ablation': ['best', *BEST_ABLATION],  # best, the accuracy model, and its ablation
          'records': ['cnn_2ch', *RECORDS, 'best'],  # the records beside the course's reference
          # course_budget_ablation, fast_ablation: a record and its variants
          **{f'{name}_ablation': [name, *variants] for name, variants in RECORD_ABLATIONS.items()},
          'reports': list(REPORT_SYSTEMS),  # the five reports' systems; r000 ... r004 one's
          **{report: [name for name in REPORT_SYSTEMS if name.startswith(report + '_')]
             for report in REPORTS}}


def build_model(name):
    if name not in MODELS:
        raise KeyError(f'unknown model {name!r}; known: {", ".join(MODELS)}')
    return MODELS[name].build()


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())
