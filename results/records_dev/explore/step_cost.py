"""Issue 14's throwaway: where one training step of course_budget goes, on one
thread, beside one step of cnn_2ch (the course's reference) - medians of 7
repeats of 100 steps each, then torch.profiler's operator table for 50 steps.
Also the same step under bfloat16 autocast (the bf16 direction of r12, r13).

Run from the repository root, with nothing else running:
    PYTHONPATH=. PYTORCH_DATA_DIR=../shared/data python results/records_dev/explore/step_cost.py > results/records_dev/explore/step_cost.txt
"""
import os, statistics, time
import torch
from torch.profiler import ProfilerActivity, profile
import models, train as T
from dlc_practical_prologue import generate_pair_sets

torch.set_num_threads(1)
pairs = T.PairSets(*generate_pair_sets(1000, os.environ.get('PYTORCH_DATA_DIR'),
                                       torch.Generator().manual_seed(0))).normalised()

def per_call_ms(f, calls=100, repeats=7):
    for _ in range(10):
        f()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - start) / calls * 1e3)
    return statistics.median(times)

def step_of(name, bf16=False):
    settings = T.model_settings(name)
    n = settings['batch_size']
    x, target, classes = pairs.train_input[:n], pairs.train_target[:n], pairs.train_classes[:n]
    net = models.build_model(name).to(memory_format=torch.channels_last)
    opt = T.make_optimizer('adam', net.parameters(), 1e-3)
    def step():
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            outputs = net(x)
        loss = T.pair_loss(net, outputs, target, classes, 1.0, 1.0, settings['label_smoothing'])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step, x

generator = torch.Generator().manual_seed(0)
budget_step, budget_x = step_of('course_budget')
warp = lambda: T.random_warp(budget_x, generator, **models.RECORDS['course_budget'].settings['augment'])
rows = [('cnn_2ch: one step (100 pairs, 2-channel)', per_call_ms(step_of('cnn_2ch')[0])),
        ('course_budget: one step (50 pairs = 100 digits)', per_call_ms(budget_step)),
        ('course_budget: its random warp of the batch', per_call_ms(warp)),
        ('course_budget: one step under bfloat16 autocast', per_call_ms(step_of('course_budget', True)[0]))]
print('ms per call, one thread, median of 7 x 100 calls')
for text, ms in rows:
    print(f'{text:50s} {ms:6.2f}')
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(50):
        budget_step()
print('\ncourse_budget, 50 steps (without the warp):')
print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=12))
