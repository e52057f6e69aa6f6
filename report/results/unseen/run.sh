#!/usr/bin/env bash
# The --unseen study, as run at d714d40 (from a clean clone, MNIST in $PYTORCH_DATA_DIR):
# position design (digit d never first in round d, seeds 7000-7009) and combination
# design (a and a+5 never together, seeds 7100-7109), each beside the same seeds
# without the exclusion; the ten main models and best. Then:
#   python -m report.unseen --position report/results/unseen/position_*.json \
#       --combination report/results/unseen/combination*.json --out report/figures
set -u
cd "$(dirname "$0")/../../.."
R=report/results/unseen
COMBINATION='0:5,5:0,1:6,6:1,2:7,7:2,3:8,8:3,4:9,9:4'
python test.py --models main,best --unseen "$COMBINATION" --seed 7100 --quiet --out $R/combination.json
python test.py --models main,best --seed 7100 --quiet --out $R/combination_none.json
for d in 0 1 2 3 4 5 6 7 8 9; do
  python test.py --models main,best --unseen "$d:*" --seed $((7000 + d)) --rounds 1 --quiet --out $R/position_$d.json
done
python test.py --models main,best --seed 7000 --quiet --out $R/position_none.json
