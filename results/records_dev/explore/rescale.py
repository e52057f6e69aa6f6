"""Issue 20's throwaway: the corrected resampled t intervals of combine.py's and
views.py's outputs, from the plain-t intervals they printed (the saved members
they score are not committed, so they cannot be run again). Both intervals use
t_{0.975, n-1} s, so the corrected half-width is the printed one times
sqrt(n (1/n + 1/4)) = sqrt(1 + n/4) for n fits of 5 folds; the printed
half-widths are rounded to 0.01, so the result is good to about 0.01 x that
factor.

    python results/records_dev/explore/rescale.py results/records_dev/explore/r15_combine.txt
"""
import math, re, sys

text = open(sys.argv[1]).read()
fits = int(re.match(r'(\d+) fits', text).group(1))
factor = math.sqrt(1 + fits / 4)

def corrected(match):
    mean, low, high = (float(g) for g in match.groups())
    half = (high - low) / 2 * factor
    return f'{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}]'

print(f'# {sys.argv[1]} with corrected resampled t intervals: printed half-widths x {factor:.3f} (rescale.py)')
print(re.sub(r'([+-]\d+\.\d+) \[([+-]\d+\.\d+), ([+-]\d+\.\d+)\]', corrected, text), end='')
