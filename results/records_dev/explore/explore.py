"""Issue 14's exploration script, kept as it was run (a throwaway, not part of
the product): each line of a .jsonl file on stdin is one recipe (tower,
epochs, rate, batch, test-time averaging, members...); every recipe trains
on the folds of K-fold cross-validation of the training pairs of the given
seeds (development seeds only) and prints its mean validation pair and digit
errors and its median seconds per 1000-pair round; the per-fit errors,
in (seed, fold) order, go to the .out file, for paired comparisons.

Run from the repository root, e.g.:
    PYTHONPATH=. PYTORCH_DATA_DIR=../shared/data python results/records_dev/explore/explore.py \
        '{"seeds": [400, 401, 402, 403]}' results/records_dev/explore/r4.out \
        < results/records_dev/explore/r4.jsonl

r1-r4 ran before the init seed became seed*100+member (the members option)
and r1-r7 before evaluation in passes of 100 pairs (same predictions, the
eval seconds of test-time averaging then about twice as long). r12 on added
the options bf16 (training under bfloat16 autocast), ema (an exponential
moving average of the weights and BatchNorm statistics, per step, evaluated
in place of the weights), opt and momentum, and save (a path prefix: each
fit's per-member held-out digit log-probabilities go to PREFIX_SEED_FOLD.pt,
so that ensembles of mixed members can be scored from them). r16 added
distill (a weight: one more model of the same kind trained on the members'
averaged probabilities as well as the labels; its errors are reported, and
the members' as teacher_err). r18 added save_views (PREFIX: each member's
held-out log-probabilities on every test-time view of VIEWS, for views.py).
"""
import time, sys, os, json, math, multiprocessing as mp
import torch
from torch import nn
import torch.nn.functional as F
import models, train as T, rounds
from models import *

def bn_small(width=16, hidden=64, dropout=0.0, double=True, pool='max'):
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    l = block(1, width) + (block(width, width) if double else []) + [nn.MaxPool2d(2)]
    l += block(width, 2*width) + (block(2*width, 2*width) if double else []) + [nn.MaxPool2d(2)]
    l += [nn.Flatten(), nn.Linear(2*width*9, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU()]
    l += ([nn.Dropout(dropout)] if dropout else []) + [nn.Linear(hidden, 10)]
    return nn.Sequential(*l)

TOWERS = {
 'course': lambda **k: course_cnn(**k),
 'course_bn': lambda **k: course_cnn(batchnorm=True, **k),
 'bn24': lambda **k: bn_cnn(**k),
 'bn_small': bn_small,
 'post': lambda c1=32, c2=64, hidden=200: nn.Sequential(nn.Conv2d(1, c1, 3, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c1), nn.ReLU(), nn.Conv2d(c1, c2, 3, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c2), nn.ReLU(), nn.Flatten(), nn.Linear(c2 * 4, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 10)),
 # r17: BatchNorm after the second convolution and the hidden layer only (not on the 12x12x32 first one)
 'course_bn2': lambda: nn.Sequential(nn.Conv2d(1, 32, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.BatchNorm2d(64), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(256, 200), nn.BatchNorm1d(200), nn.ReLU(), nn.Linear(200, 10)),
 'narrow_bn': lambda c1=32, c2=48, hidden=128: nn.Sequential(nn.Conv2d(1, c1, 3), nn.BatchNorm2d(c1), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(c1, c2, 3), nn.BatchNorm2d(c2), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(c2*4, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 10)),
}
AUG = dict(shift=1.5, rotate=12.0, scale=0.1)

class Bf16(nn.Module):
    """A tower that trains under bfloat16 autocast (evaluation stays float32)."""
    def __init__(self, tower):
        super().__init__(); self.tower = tower
    def forward(self, x):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=self.training):
            return self.tower(x).float()

_make_optimizer = T.make_optimizer
EMA = {}

def make_optimizer_with_ema(name, parameters, lr, momentum=0.9, weight_decay=0.0):
    """The optimizer, with a post-step hook that updates EMA['state'] (a copy of the
    model's floating-point state) when EMA['decay'] is set."""
    opt = _make_optimizer(name, parameters, lr, momentum, weight_decay)
    if EMA.get('decay'):
        net = EMA['net']
        state = {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()}
        EMA['state'], EMA['t'] = state, 0
        def update(optimizer, args, kwargs):
            EMA['t'] += 1
            d = min(EMA['decay'], (1 + EMA['t']) / (10 + EMA['t']))
            with torch.no_grad():
                for k, v in net.state_dict().items():
                    if k in state:
                        state[k].lerp_(v, 1 - d)
        opt.register_step_post_hook(update)
    return opt

T.make_optimizer = make_optimizer_with_ema

class Distilled(nn.Module):
    """A student pair model that, in training, also holds its teachers' averaged
    digit probabilities on the batch (their towers without test-time averaging,
    in eval mode), for distilled_loss."""
    learns_comparison, aux = False, True
    def __init__(self, student, teachers, weight):
        super().__init__()
        self.student, self.teachers, self.weight = student, teachers, weight
    def forward(self, x):
        with torch.inference_mode():
            images = x.reshape(-1, 1, *x.shape[2:])
            towers = [t.towers[0].tower if isinstance(t.towers[0], ShiftAveraged) else t.towers[0]
                      for t in self.teachers]
            for tower in towers: tower.eval()
            soft = torch.stack([tower(images).softmax(-1) for tower in towers]).mean(0)
        self.soft = soft.view(x.size(0), 2, -1).clone()
        return self.student(x)

_pair_loss = T.pair_loss

def distilled_loss(model, outputs, target, classes, aux_weight, target_weight=1.0, label_smoothing=0.0):
    """(1 - weight) * the usual loss + weight * the cross-entropy against the teachers'
    probabilities (both on the two digits of each pair)."""
    loss = _pair_loss(model, outputs, target, classes, aux_weight, target_weight, label_smoothing)
    if not isinstance(model, Distilled):
        return loss
    soft = -(model.soft * outputs[1].log_softmax(-1)).sum(-1).mean() * 2
    return (1 - model.weight) * loss + model.weight * soft

T.pair_loss = distilled_loss

# r18: test-time views, (dx, dy, degrees, scale): the identity and ShiftAveraged's four
# one-pixel shifts first, then diagonal shifts, rotations and scalings.
VIEWS = [(0, 0, 0, 1), (1, 0, 0, 1), (-1, 0, 0, 1), (0, 1, 0, 1), (0, -1, 0, 1),
         (1, 1, 0, 1), (1, -1, 0, 1), (-1, 1, 0, 1), (-1, -1, 0, 1),
         (0, 0, 6, 1), (0, 0, -6, 1), (0, 0, 12, 1), (0, 0, -12, 1), (0, 0, 0, 0.92), (0, 0, 0, 1.08)]

def view_of(images, dx, dy, degrees, scale):
    """images (n, 1, 14, 14) shifted by whole pixels (torch.roll, as ShiftAveraged),
    or rotated and scaled about the centre (grid_sample, border padding, as random_warp)."""
    if degrees == 0 and scale == 1:
        return torch.roll(images, (dx, dy), dims=(2, 3))
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]) / scale
    grid = F.affine_grid(theta.expand(images.size(0), 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode='border')

def run(job):
    torch.set_num_threads(1)
    cfg, seed, fold, folds = job
    if 'shifts' in cfg: ShiftAveraged.SHIFTS = tuple(map(tuple, cfg['shifts']))
    pairs = rounds.round_pairs(os.environ.get('PYTORCH_DATA_DIR'), seed, ('fold', fold, folds)).normalised()
    tk = cfg.get('tower_kw', {})
    base = lambda: TOWERS[cfg['tower']](**tk)
    make = (lambda: Bf16(base())) if cfg.get('bf16') else base
    st = dict(epochs=cfg['epochs'], batch_size=cfg.get('bs', 50), lr=cfg.get('lr', 2e-2), optimizer='adam',
              aux_weight=1.0, label_smoothing=cfg.get('ls', 0.1), schedule='onecycle',
              augment=cfg.get('augment', AUG), weight_decay=cfg.get('wd', 0.0))
    st.update(optimizer=cfg.get('opt', 'adam'), momentum=cfg.get('momentum', 0.9))
    EMA.clear()
    # warm-up
    net = PairNet(make, head=ProbabilityComparison, tta=cfg.get('tta', True)).to(memory_format=torch.channels_last)
    few = pairs._replace(train_input=pairs.train_input[:st['batch_size']], train_target=pairs.train_target[:st['batch_size']], train_classes=pairs.train_classes[:st['batch_size']])
    T.train(net, few, **dict(st, epochs=2), curves=False)
    T.eval_outputs(net, pairs.test_input[:10])
    nets = []
    t0 = time.perf_counter()
    for m in range(cfg.get('members', 1)):
        torch.manual_seed(seed * 100 + m)
        net = PairNet(make, head=ProbabilityComparison, tta=cfg.get('tta', True)).to(memory_format=torch.channels_last)
        gen = torch.Generator().manual_seed(seed * 100 + m)
        EMA.update(decay=cfg.get('ema'), net=net)
        T.train(net, pairs, generator=gen, curves=False, **st)
        if cfg.get('ema'):
            net.load_state_dict(EMA['state'], strict=False)
        nets.append(net)
    extra = {}
    if cfg.get('distill') is not None:  # one student on the members' averaged probabilities
        teachers = [T.eval_outputs(n, pairs.test_input) for n in nets]
        logp = torch.stack([o[1].log_softmax(-1) for o in teachers]).exp().mean(0).log()
        extra = dict(teacher_err=T.pair_error(nets[0].comparison(logp), pairs.test_target),
                     teacher_derr=T.digit_error(nets[0], None, pairs.test_classes, (None, logp)))
        torch.manual_seed(seed * 100 + 99)
        student = Distilled(PairNet(make, head=ProbabilityComparison, tta=cfg.get('tta', True)),
                            nets, cfg['distill']).to(memory_format=torch.channels_last)
        gen = torch.Generator().manual_seed(seed * 100 + 99)
        T.train(student, pairs, generator=gen, curves=False, **st)
        nets = [student.student]
    tt = time.perf_counter() - t0
    t0 = time.perf_counter()
    outs = [T.eval_outputs(n, pairs.test_input) for n in nets]
    if len(nets) == 1:
        out = outs[0]
    else:
        logp = torch.stack([o[1].log_softmax(-1) for o in outs]).exp().mean(0).log()
        out = (nets[0].comparison(logp), logp)
    te = time.perf_counter() - t0
    if cfg.get('save_views'):  # each member's log-probabilities on every view of VIEWS (r18)
        views = []
        for net in nets:
            tower = net.towers[0].tower.eval()
            images = pairs.test_input.reshape(-1, 1, 14, 14)
            with torch.inference_mode():
                views.append(torch.stack([tower(view_of(images, *v)).log_softmax(-1).view(-1, 2, 10)
                                          for v in VIEWS]))
        torch.save(dict(views=views, names=VIEWS, classes=pairs.test_classes, target=pairs.test_target,
                        train_s=tt), f"{cfg['save_views']}_{seed}_{fold}.pt")
    if cfg.get('save'):  # each member's held-out digit log-probabilities, to combine members later
        torch.save(dict(logp=[o[1].log_softmax(-1) for o in outs], classes=pairs.test_classes,
                        target=pairs.test_target, train_s=tt), f"{cfg['save']}_{seed}_{fold}.pt")
    return dict(err=T.pair_error(out[0], pairs.test_target), derr=T.digit_error(net, None, pairs.test_classes, out),
                train_s=tt, eval_s=te, n=len(pairs.test_target), ntrain=len(pairs.train_target), **extra)

def explore(configs, seeds=(400, 401), folds=5, workers=2):
    jobs = [(c, s, k, folds) for c in configs for s in seeds for k in range(folds)]
    with mp.get_context('spawn').Pool(workers) as pool:
        res = pool.map(run, jobs, chunksize=1)
    per = len(seeds) * folds
    out = []
    for i, c in enumerate(configs):
        r = res[i*per:(i+1)*per]
        err = sum(x['err'] for x in r) / per; derr = sum(x['derr'] for x in r) / per
        med = lambda v: sorted(v)[len(v)//2]
        scale = 1000 / r[0]['ntrain']
        tt = med([x['train_s'] for x in r]) * scale; te = med([x['eval_s'] for x in r]) * 1000 / r[0]['n']
        out.append(dict(cfg=c, err=err, derr=derr, train_s=tt, eval_s=te, errs=[x['err'] for x in r], derrs=[x['derr'] for x in r],
                        **({k + 's': [x[k] for x in r] for k in ('teacher_err', 'teacher_derr')} if 'teacher_err' in r[0] else {})))
        print(f"{json.dumps(c):90s} val {err:5.2f}  digit {derr:5.2f}  train/1000 {tt:5.2f}s  eval/1000 {te:5.3f}s  total {tt+te:5.2f}", flush=True)
    return out

if __name__ == '__main__':
    configs = [json.loads(l) for l in sys.stdin if l.strip()]
    out = explore(configs, **json.loads(sys.argv[1]) if len(sys.argv) > 1 else {})
    with open(sys.argv[2] if len(sys.argv) > 2 else '/tmp/s5/last.json', 'a') as f:
        for o in out: f.write(json.dumps(o) + '\n')
