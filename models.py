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
70,906 parameters, the course's reference size).

Example:
    python models.py            # every registered model with its parameter count
"""

from dataclasses import dataclass, field
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
    """The two digits' 10 scores each -> pair logits, learned (on the softmax
    probabilities of the scores with `softmax`, else on the raw scores)."""

    def __init__(self, hidden=64, softmax=False):
        super().__init__(nn.Linear(2 * DIGITS, hidden), nn.ReLU(), nn.Linear(hidden, 2))
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
    """Two digit towers (or one shared tower) and a comparison head."""

    def __init__(self, encoder, share, aux, comparison=None):
        super().__init__()
        self.share, self.aux = share, aux
        self.towers = nn.ModuleList([digit_tower(encoder) for _ in range(1 if share else 2)])
        # With the auxiliary loss the 10 scores are digit classes, and the head
        # reads their probabilities; without it they are free features, read raw.
        # Validation error, 6 rounds of 800/200 splits (see README): cnn_ws_aux
        # 11.6% raw -> 3.8% softmax, mlp_ws_aux 13.4% -> 7.2%, but cnn_ws 15.7% -> 20.8%.
        self.comparison = comparison if comparison is not None else LearnedComparison(softmax=aux)
        # A fixed comparison has nothing to learn from the pair target.
        self.learns_comparison = any(p.requires_grad for p in self.comparison.parameters())

    def digit_logits(self, x):
        n = x.size(0)
        if self.share:  # both images in one batch through the one tower
            return self.towers[0](x.reshape(2 * n, 1, *x.shape[2:])).view(n, 2, DIGITS)
        return torch.stack([tower(x[:, i:i + 1]) for i, tower in enumerate(self.towers)], dim=1)

    def forward(self, x):
        digits = self.digit_logits(x)
        return self.comparison(digits), (digits if self.aux else None)


class TwoChannelNet(nn.Module):
    """One CNN on the pair as a 2-channel image, target loss only."""

    learns_comparison = True

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(cnn_encoder(in_channels=2), nn.Linear(200, 2))

    def forward(self, x):
        return self.net(x), None


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
                specs[name] = ModelSpec(
                    description,
                    lambda encoder=encoder, share=share, aux=aux: PairNet(encoder, share, aux))
    return specs


MODELS = {
    **_family(),
    'cnn_2ch': ModelSpec('one CNN on the pair as a 2-channel image, target loss only',
                         TwoChannelNet),
    'cnn_digits': ModelSpec('shared CNN digit classifier trained on digit labels only; '
                            'pair = compare the two predicted digits',
                            lambda: PairNet('cnn', share=True, aux=True,
                                            comparison=ArgmaxComparison())),
}
DEFAULT_SUITE = list(MODELS)


def build_model(name):
    if name not in MODELS:
        raise KeyError(f'unknown model {name!r}; known: {", ".join(MODELS)}')
    return MODELS[name].build()


def count_parameters(module):
    return sum(p.numel() for p in module.parameters())


if __name__ == '__main__':
    for name, spec in MODELS.items():
        print(f'{name:12s} {count_parameters(spec.build()):>8,d}  {spec.description}')
