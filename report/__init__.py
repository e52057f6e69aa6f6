"""The study: what the report and EXPERIMENTS.md are made of.

Each tool runs from the repository root as a module:
    python -m report.tune cnn_ws_aux --lr 3e-4,1e-3,3e-3     # grids on validation splits or folds
    python -m report.effects report/results/default.json    # paired effects, intervals, tests
    python -m report.plots curves report/results/curves.json --out report/figures
    python -m report.bench                                  # the speed benchmark
    python -m report.reproduction report/results/reports.json   # writes report/REPRODUCTION.md
    python -m report.make_assets                            # the paper's tables, numbers, figures
The committed results are in report/results/; the study imports the product
(the five files at the top), never the reverse.
"""
