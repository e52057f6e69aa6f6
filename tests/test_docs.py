"""README.md's result tables and headline numbers equal the committed results
files they come from, as the project's own formatting code prints them, so a
rerun or an edit that drifts fails here; and the layout the README describes
(the card's top level, the study's tools run as modules)."""

import ast
import re
import subprocess

import pytest
from conftest import ROOT, load_script

from report import effects, plots
from utils import completed, load_results, mean_std

README = (ROOT / 'README.md').read_text()


def results(name):
    return load_results(ROOT / 'report' / 'results' / name)


def block_after(marker):
    """The indented block that follows the first README line holding `marker`
    after a blank line (the output printed under a command), unindented."""
    lines = README.splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line)
    first = next(i for i in range(start, len(lines)) if not lines[i].strip()) + 1
    block = []
    for line in lines[first:]:
        if not line.startswith('    '):
            break
        block.append(line[4:])
    assert block, f'no block under {marker!r}'
    return '\n'.join(block)


def results_table(saved):
    return load_script('test').results_table(saved['config']['models'], saved['results'])


def test_the_main_table_is_that_of_the_default_run():
    assert block_after('python test.py --out report/results/default.json') == results_table(
        results('default.json'))


def test_the_paired_effects_are_those_of_the_default_run():
    rows = effects.effects(results('default.json')['results'], effects.default_comparisons())
    assert block_after('python -m report.effects report/results/default.json') == effects.effects_table(rows)


def test_bests_row_is_that_of_its_final_run():
    assert block_after('--models best --rounds 10 --seed 2026 --out report/results/best.json') == (
        results_table(results('best.json')))


def test_the_time_to_accuracy_table_is_that_of_the_records_run():
    saved = results('records.json')
    assert block_after('python -m report.plots time report/results/records.json') == (
        plots.time_to_accuracy_table(saved['results'], saved['config']['models']))


def mean_and_std(saved, model):
    return mean_std(r['held_out_error'] for r in completed(saved['results'], model))


def interval(saved, without, with_):
    (row,) = effects.effects(saved['results'], [('', without, with_)])
    return f"{row['mean']:+.2f} [{row['low']:+.2f}, {row['high']:+.2f}]"


def test_the_numbers_in_the_prose_are_those_of_the_files():
    default, best, records = results('default.json'), results('best.json'), results('records.json')
    assert '(`cnn_2ch`) has {:.1f} ± {:.1f}%'.format(*mean_and_std(default, 'cnn_2ch')) in README
    assert '**{:.2f} ± {:.2f}% test error**'.format(*mean_and_std(best, 'best')) in README
    assert f"learned head: {interval(default, 'cnn_ws_aux', 'cnn_digits')} points" in README
    within = interval(records, 'best', 'fast')
    assert f'`fast` is within {within[1:5]} points of `best` ({within[6:]})' in README


def size_files():
    folder = ROOT / 'report' / 'results' / 'pairs'
    return [load_results(path) for name in ('main', 'best') for path in sorted(folder.glob(f'{name}_*.json'))]


def markdown_table(text, header_start):
    """The rows (lists of cells) of the markdown table whose header starts so."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start:]:
        if not line.startswith('|'):
            break
        rows.append([cell.strip() for cell in line.strip('|').split('|')])
    return rows[0], rows[2:]


def test_the_training_pairs_table_is_that_of_the_size_files():
    header, rows = markdown_table((ROOT / 'report' / 'EXPERIMENTS.md').read_text(), '| pairs | rounds |')
    sizes = plots.by_size(size_files())
    assert [row[0] for row in rows] == [f'{n:,}' for n, _ in sizes], 'a row per size, every size'
    models = {r['model'] for _, runs in sizes for r in runs}
    for row, (n, rows_of_size) in zip(rows, plots.size_effects(sizes, models)):
        by_effect = {effect['effect']: effect for effect in rows_of_size}
        expected = {}
        for column in header[2:]:
            if column.startswith('`'):
                runs = [r['held_out_error'] for r in dict(sizes)[n] if r['model'] == column.strip('`')]
                expected[column] = '{:.1f} ± {:.1f}'.format(*mean_std(runs))
            else:
                effect = by_effect[column]
                expected[column] = f"{effect['mean']:+.1f} [{effect['low']:+.1f}, {effect['high']:+.1f}]"
        assert dict(zip(header[2:], row[2:])) == expected, n
        assert row[1] == str(by_effect['aux loss, cnn']['rounds']), n


def test_the_training_pairs_answer_is_that_of_the_size_files():
    sizes = plots.by_size(size_files())
    models = ['mlp', 'mlp_aux', 'mlp_ws', 'cnn', 'cnn_aux', 'cnn_ws']
    gain = {(row['effect'], n): -row['mean'] for n, rows in plots.size_effects(sizes, models) for row in rows}

    def span(effects, low, high):
        gains = [value for (name, n), value in gain.items() if name in effects and low <= n <= high]
        return f'{min(gains):.1f} to {max(gains):.1f}'

    def error(model, n):
        mean, _ = mean_std(r['held_out_error'] for r in dict(sizes)[n] if r['model'] == model)
        return f'{mean:.1f}%'

    aux = [f"{-gain[f'aux loss, {family}', n]:+.1f}" for n in (10000, 20000) for family in ('mlp', 'cnn')]
    answer = ' '.join(README.split())
    assert f"worth {span(('aux loss, mlp', 'aux loss, cnn'), 100, 2500)} points for both encoders" in answer
    assert f'{aux[0]} (MLP) and {aux[1]} (CNN) at 10,000, {aux[2]} and {aux[3]} at 20,000' in answer
    assert f"buys the CNN {span(('weight sharing, cnn',), 100, 250)} points at 100-250" in answer
    assert f"MLP's {span(('weight sharing, mlp',), 250, 10000)} points hold from 250 to 10,000" in answer
    assert (f"`best` has {error('best', 250)} at 250 pairs, what `cnn_ws_aux` has at 2,500 "
            f"({error('cnn_ws_aux', 2500)})") in answer


def unseen_summaries():
    from report import unseen
    folder = ROOT / 'report' / 'results' / 'unseen'
    return [unseen.summary(unseen.design_rounds([load_results(path)
                                                 for path in sorted(folder.glob(pattern))]))
            for pattern in ('position_*.json', 'combination*.json')]


def interval_of(effect):
    return f"{effect['mean']:+.1f} [{effect['low']:+.1f}, {effect['high']:+.1f}]"


def test_the_unseen_table_is_that_of_the_unseen_files():
    header, rows = markdown_table((ROOT / 'report' / 'EXPERIMENTS.md').read_text(), '| model | position:')
    position, combination = unseen_summaries()
    assert [row[0].strip('`') for row in rows] == list(position['models']), 'a row per model, every model'
    for row in rows:
        model = row[0].strip('`')
        found, other = position['models'][model], combination['models'][model]
        assert row[1:] == [f"{found['excluded_without'][0]:.1f} -> {found['excluded_with'][0]:.1f}",
                           interval_of(found['cost']),
                           interval_of(found['misread_cost']) if 'misread_cost' in found else '-',
                           interval_of(other['cost'])], model


def test_the_unseen_answer_is_that_of_the_unseen_files():
    position, combination = unseen_summaries()
    models = position['models']

    def cost(model, design=position):
        return interval_of(design['models'][model]['cost'])
    learned = models['cnn_ws_aux']
    others = [models[m]['cost']['mean'] for m in ('mlp', 'mlp_aux', 'mlp_ws_aux', 'cnn', 'cnn_aux',
                                                    'cnn_ws_aux', 'cnn_2ch')]
    free = [models[m]['cost']['mean'] for m in ('mlp_ws', 'cnn_ws')]
    fixed = next(e for e in position['effects'] if e['with_model'] == 'cnn_digits')
    answer = ' '.join(README.split())
    assert (f"`cnn_ws_aux` goes from {learned['excluded_without'][0]:.1f} to "
            f"{learned['excluded_with'][0]:.1f}% on the pairs with d first ({cost('cnn_ws_aux')} "
            f"points): its shared tower still reads d there ({learned['misread_cost']['mean']:+.1f} "
            f"points of misread first digits), two towers cannot (`cnn_aux`: "
            f"{models['cnn_aux']['misread_cost']['mean']:+.1f})") in answer
    assert (f'The other models lose {min(others):.1f} to {max(others):.1f} points, the shared '
            f'towers without the auxiliary loss {min(free):.1f} to {max(free):.1f}') in answer
    assert (f"`cnn_digits` {cost('cnn_digits')}, {-fixed['mean']:.1f} points below `cnn_ws_aux` "
            f"there; `best` {cost('best')}") in answer
    towers = [row['cost'] for model, row in combination['models'].items() if model != 'cnn_2ch']
    assert all(effect['low'] <= 0 for effect in towers), 'no tower model pays measurably'
    assert f"`cnn_2ch`, which sees the pair as one image, pays {cost('cnn_2ch', combination)}" in answer


@pytest.mark.parametrize('name', ['default.json', 'best.json', 'records.json'])
def test_the_files_behind_the_readme_are_test_rounds(name):
    # README calls these test errors, and its intervals plain t over independent rounds.
    assert {r['held_out'] for r in results(name)['results']} == {'test'}


# --- The layout: the course's five files at the top, the study in report/ -----

TOP_LEVEL = {'test.py', 'dlc_practical_prologue.py', 'models.py', 'train.py', 'utils.py', 'report',
             'README.md', 'requirements.txt', 'requirements-dev.txt', 'tests', '.ci', '.gitignore',
             'pytest.ini', 'ruff.toml'}


def tracked_files():
    listed = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip('not a git checkout')
    return listed.stdout.split()


def test_the_top_level_is_the_cards():
    assert {path.split('/')[0] for path in tracked_files()} == TOP_LEVEL


def test_docs_and_help_run_the_study_tools_as_modules():
    # A study tool named as a script file, or a file that left the tree; a line
    # that re-runs an old commit may name the files as they were then.
    old = re.compile(r'python (report/)?(tune|effects|plots|bench|reports|reproduction|make_assets)\.py'
                     r'|\brounds\.py\b|\breports\.py\b')
    texts = [path for path in tracked_files() if path.endswith(('.py', '.md', '.tex', 'Makefile'))
             and not path.startswith('report/results/')]
    stale = [f'{path}: {line.strip()}' for path in texts for line in (ROOT / path).read_text().splitlines()
             if old.search(line) and not re.search(r'git checkout|at commit [0-9a-f]{7}', line)]
    assert not stale, stale
    for tool in sorted((ROOT / 'report').glob('*.py')):
        if tool.stem != '__init__':
            doc = ast.get_docstring(ast.parse(tool.read_text()))
            assert f'python -m report.{tool.stem}' in doc, f'{tool.name}: no example as a module'
