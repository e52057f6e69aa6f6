"""Data API of the EE-559 course, written afresh: MNIST digit pairs.

`generate_pair_sets(nb)` returns the six tensors of the project: `nb` pairs of
14x14 digits (MNIST average-pooled by 2) from MNIST's train split and `nb` from
its test split, each with the target "first digit <= second" and the two digit
classes. `load_data` and `convert_to_one_hot_labels` are the course's too.

Unlike the course's file, importing this module reads no command line and seeds
nothing (the course's calls parse_args() and torch.manual_seed(0)): --data_dir,
--full and --tiny are arguments here. MNIST is read from
`<data_dir>/mnist/MNIST/raw/` (data_dir: the argument, else $PYTORCH_DATA_DIR,
else ./data), where torchvision downloads it on first use.

Example:
    PYTORCH_DATA_DIR=../shared/data python dlc_practical_prologue.py
"""

import hashlib
import math
import os

import torch
import torch.nn.functional as F


def generate_pair_sets(nb, data_dir=None, generator=None):
    """train_input, train_target, train_classes, test_input, test_target,
    test_classes; `generator` seeds the draw."""
    (train_input, train_target), (test_input, test_target) = load_mnist_splits(data_dir, torch.uint8)
    return (mnist_to_pairs(nb, train_input, train_target, generator)
            + mnist_to_pairs(nb, test_input, test_target, generator))


def mnist_to_pairs(nb, input, target, generator=None, unseen=None):
    """`nb` pairs of distinct images of (input, target): input (nb, 2, 14, 14)
    float32, target (nb,) and classes (nb, 2) int64. `unseen`, a 10x10 bool
    tensor, skips the pairs whose (first, second) digits it marks: the others
    come as they would without it, and the generator draws the same."""
    picks = torch.randperm(input.size(0), generator=generator)
    picks = picks[:input.size(0) // 2 * 2].view(-1, 2)
    if unseen is not None:
        picks = picks[~unseen[target[picks[:, 0]], target[picks[:, 1]]]]
        if nb > picks.size(0):
            raise ValueError(f'only {picks.size(0)} pairs are left outside the unseen digit '
                             f'combinations, fewer than {nb}')
    if nb > picks.size(0):
        raise ValueError(f'{nb} pairs need {2 * nb} images; only {input.size(0)} available')
    picks = picks[:nb]
    # Pooled after picking: the same pixels as pooling all of MNIST first, 60x
    # less work; and only the picked images become float32 (MNIST may be uint8).
    images = F.avg_pool2d(input[picks.flatten()].float(), kernel_size=2)
    pairs = images.view(nb, 2, *images.shape[2:])
    classes = target[picks]
    return pairs, pair_target(classes), classes


def pair_target(classes):
    """The task's rule: 1 where the first digit is <= the second (equal digits give 1)."""
    return (classes[:, 0] <= classes[:, 1]).long()


def load_data(cifar=None, one_hot_labels=False, normalize=False, flatten=True,
              data_dir=None, full=False, tiny=False):
    """The course's `load_data` for MNIST: 1000 train and 1000 test samples
    (all 60000/10000 with `full`, 500 and 100 with `tiny`), optionally
    flattened, normalised with the training statistics, and with one-hot labels."""
    if cifar:
        raise ValueError('this project only ships MNIST; cifar=True is not supported')
    if full and tiny:
        raise ValueError('cannot have both full and tiny')
    (train_input, train_target), (test_input, test_target) = load_mnist_splits(data_dir)
    if not full:
        train_size, test_size = (500, 100) if tiny else (1000, 1000)
        train_input, train_target = train_input[:train_size], train_target[:train_size]
        test_input, test_target = test_input[:test_size], test_target[:test_size]
    if flatten:
        train_input = train_input.view(train_input.size(0), -1)
        test_input = test_input.view(test_input.size(0), -1)
    if one_hot_labels:
        train_target = convert_to_one_hot_labels(train_input, train_target)
        test_target = convert_to_one_hot_labels(test_input, test_target)
    if normalize:
        mu, std = train_input.mean(), train_input.std()
        train_input = (train_input - mu) / std
        test_input = (test_input - mu) / std
    return train_input, train_target, test_input, test_target


def convert_to_one_hot_labels(input, target):
    """Labels (N,) -> (N, C) of `input`'s dtype, 1 at the label and 0 elsewhere."""
    return F.one_hot(target).to(input.dtype)


# =====================================================================================
# Reading MNIST: where it is, its checks, the idx reader and the download.
# =====================================================================================

def load_mnist_splits(data_dir=None, dtype=torch.float32):
    """((train images, labels), (test images, labels)) of MNIST, as load_mnist."""
    return load_mnist(data_dir, True, dtype), load_mnist(data_dir, False, dtype)


# The four files, with the sizes and MD5 sums of the original MNIST.
MNIST_FILES = {
    'train-images-idx3-ubyte': (47_040_016, '6bbc9ace898e44ae57da46a324031adb'),
    'train-labels-idx1-ubyte': (60_008, 'a25bea736e30d166cdddb491f175f624'),
    't10k-images-idx3-ubyte': (7_840_016, '2646ac647ad5339dbf082846283269ea'),
    't10k-labels-idx1-ubyte': (10_008, '27ae3e4e09519cfbb04c329615203637'),
}
# Set to 1 to read a copy in MNIST's format that is not MNIST (the tests' synthetic digits).
SKIP_CHECK_VARIABLE = 'DLC_SKIP_MNIST_CHECK'


class MnistUnavailable(RuntimeError):
    """MNIST is neither on disk nor downloadable; the message says how to fix it."""


def resolve_data_dir(data_dir=None):
    if data_dir is not None:
        return data_dir
    return os.environ.get('PYTORCH_DATA_DIR') or './data'


def check_mnist_files(raw, names):
    """Raise MnistUnavailable naming the first of `names` in folder `raw` whose
    size or MD5 differs from the original MNIST file. Missing files pass (they
    are downloaded next)."""
    for name in names:
        path = os.path.join(raw, name)
        if not os.path.exists(path):
            continue
        size, md5 = MNIST_FILES[name]
        actual = os.path.getsize(path)
        if actual != size:
            raise bad_file(path, f"is {actual:,d} bytes, MNIST's is {size:,d} (truncated or not MNIST)")
        with open(path, 'rb') as f:
            digest = hashlib.md5(f.read()).hexdigest()
        if digest != md5:
            raise bad_file(path, f"is corrupt: its MD5 is {digest}, MNIST's is {md5}")


def bad_file(path, what):
    return MnistUnavailable(f'{path} {what}. Fix: delete it and run again with internet access '
                            '(torchvision downloads it anew), or copy a good file there.')


def read_idx(path):
    """The uint8 array of an MNIST idx file as a tensor: images (N, 28, 28) or
    labels (N,). MnistUnavailable naming the file if it is not such a file."""
    size = os.path.getsize(path)
    data = bytearray(size)  # read once, straight into the buffer the tensor keeps
    with open(path, 'rb') as f:
        f.readinto(data)
    # Header: two zero bytes, 0x08 (unsigned bytes), the number of dimensions,
    # then each dimension as a big-endian 32-bit integer.
    dims = data[3] if size >= 4 else 0
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims)]
    header = 4 + 4 * dims
    count = math.prod(shape)
    if size < 4 or data[:3] != b'\0\0\x08' or dims not in (1, 3) or size != header + count:
        raise bad_file(path, 'is not an MNIST file of unsigned bytes (truncated or corrupt)')
    return torch.frombuffer(data, dtype=torch.uint8, count=count, offset=header).view(shape)


def download_mnist(root, train):
    """Download MNIST into root/MNIST/raw with torchvision (MnistUnavailable if it fails)."""
    try:
        # Imported here: only a download needs torchvision, so that reading the
        # files stays cheap (importing it costs about 170 MB per process).
        from torchvision import datasets
        datasets.MNIST(root, train=train, download=True)
    except Exception as error:  # ImportError, RuntimeError, OSError, URLError...
        cause = ' '.join(str(error).split())[:300] or type(error).__name__
        files = '\n'.join('    ' + name for name in MNIST_FILES)
        raise MnistUnavailable(
            f'MNIST could not be loaded from {os.path.join(root, "MNIST", "raw")} and could not '
            f'be downloaded ({cause}).\nExpected these four files there (uncompressed):\n{files}\n'
            'Fix: connect to the internet once (torchvision downloads them), or point at a copy '
            'that holds mnist/MNIST/raw/ with --data_dir DIR or PYTORCH_DATA_DIR=DIR.') from None


def load_mnist(data_dir=None, train=True, dtype=torch.float32):
    """MNIST images (N, 1, 28, 28) in 0..255 as `dtype` (uint8 takes a quarter
    of float32's memory) and labels (N,) int64, downloaded first if a file is missing."""
    root = os.path.join(resolve_data_dir(data_dir), 'mnist')
    raw = os.path.join(root, 'MNIST', 'raw')
    names = [name for name in MNIST_FILES if name.startswith('train' if train else 't10k')]
    check = os.environ.get(SKIP_CHECK_VARIABLE) != '1'
    if check:
        check_mnist_files(raw, names)
    if not all(os.path.isfile(os.path.join(raw, name)) for name in names):
        download_mnist(root, train)
        if check:
            check_mnist_files(raw, names)
    images, labels = (read_idx(os.path.join(raw, name)) for name in names)
    if images.dim() != 3 or labels.dim() != 1 or images.size(0) != labels.size(0):
        raise MnistUnavailable(f'{raw}: the {names[0]} and {names[1]} files do not match '
                               f'(images {tuple(images.shape)}, labels {tuple(labels.shape)})')
    return images.view(-1, 1, *images.shape[1:]).to(dtype), labels.long()


if __name__ == '__main__':
    try:
        sets = generate_pair_sets(1000)
    except MnistUnavailable as error:
        raise SystemExit(f'error: {error}') from None
    for name, tensor in zip(('train_input', 'train_target', 'train_classes', 'test_input',
                             'test_target', 'test_classes'), sets):
        print(f'{name:14s} {str(tuple(tensor.shape)):18s} {tensor.dtype}')
    print(f'share of targets equal to 1: train {sets[1].float().mean():.3f}, '
          f'test {sets[4].float().mean():.3f}')
