"""The data API: shapes, dtypes, the target rule, reading MNIST files, clear failure."""

import subprocess
import sys

import pytest
import torch
from conftest import ROOT, real_mnist_dir, run_script, synthetic_digits

import dlc_practical_prologue as prologue


def test_pairs_have_course_shapes_and_dtypes():
    images, labels = synthetic_digits(100)
    input, target, classes = prologue.mnist_to_pairs(30, images, labels)
    assert input.shape == (30, 2, 14, 14) and input.dtype == torch.float32
    assert target.shape == (30,) and target.dtype == torch.int64
    assert classes.shape == (30, 2) and classes.dtype == torch.int64
    assert set(target.tolist()) <= {0, 1}
    assert classes.min() >= 0 and classes.max() <= 9


def test_pairs_are_pooled_distinct_images_with_their_labels():
    n = 40
    # Image i is filled with the value i, so each pooled pixel names its source image.
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 28, 28).clone()
    labels = torch.arange(n) % 10
    input, _, classes = prologue.mnist_to_pairs(n // 2, images, labels)
    sources = input[:, :, 0, 0].long()
    assert (input == input[:, :, :1, :1]).all(), 'each 14x14 image is one pooled source image'
    assert sorted(sources.flatten().tolist()) == list(range(n)), 'all 2*nb images distinct'
    assert torch.equal(classes, labels[sources])


def test_pairs_match_the_course_draw_bit_for_bit():
    # The course pools all of MNIST, then picks; we pick, then pool the picked images.
    images, labels = synthetic_digits(300)
    generator = torch.Generator().manual_seed(11)
    pooled = torch.nn.functional.avg_pool2d(images, kernel_size=2)
    picks = torch.randperm(300, generator=generator)[:200].view(100, 2)
    course = torch.cat((pooled[picks[:, 0]], pooled[picks[:, 1]]), 1)
    ours, _, classes = prologue.mnist_to_pairs(100, images, labels, torch.Generator().manual_seed(11))
    assert torch.equal(ours, course) and torch.equal(classes, labels[picks])


def test_pooling_averages_two_by_two_blocks():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 0, 0] = 4.0  # one pixel of the top-left 2x2 block
    pairs, _, _ = prologue.mnist_to_pairs(1, torch.cat([image, image]), torch.tensor([3, 3]))
    assert pairs[0, 0, 0, 0] == 1.0 and pairs[0, 0, 1:, :].abs().sum() == 0


@pytest.mark.parametrize('first, second, expected', [(3, 5, 1), (5, 3, 0), (4, 4, 1), (0, 0, 1),
                                                     (9, 0, 0), (0, 9, 1)])
def test_target_rule_first_lesser_or_equal(first, second, expected):
    assert prologue.pair_target(torch.tensor([[first, second]])).item() == expected


def test_too_few_images_is_refused():
    images, labels = synthetic_digits(10)
    with pytest.raises(ValueError, match='20 images'):
        prologue.mnist_to_pairs(10, images[:9], labels[:9])


def course_load_data(images, labels, test_images, test_labels, one_hot_labels, normalize,
                     flatten, full, tiny):
    """The course's load_data and convert_to_one_hot_labels (the file that ships
    generate_pair_sets) on tensors instead of torchvision's datasets."""
    def convert_to_one_hot_labels(input, target):
        tmp = input.new_zeros(target.size(0), target.max() + 1)
        tmp.scatter_(1, target.view(-1, 1), 1.0)
        return tmp
    train_input, train_target = images.float(), labels
    test_input, test_target = test_images.float(), test_labels
    if flatten:
        train_input = train_input.clone().reshape(train_input.size(0), -1)
        test_input = test_input.clone().reshape(test_input.size(0), -1)
    if not full:
        train_size, test_size = (500, 100) if tiny else (1000, 1000)
        train_input, train_target = train_input.narrow(0, 0, train_size), train_target.narrow(0, 0,
                                                                                             train_size)
        test_input, test_target = test_input.narrow(0, 0, test_size), test_target.narrow(0, 0, test_size)
    if one_hot_labels:
        train_target = convert_to_one_hot_labels(train_input, train_target)
        test_target = convert_to_one_hot_labels(test_input, test_target)
    if normalize:
        mu, std = train_input.mean(), train_input.std()
        train_input.sub_(mu).div_(std)
        test_input.sub_(mu).div_(std)
    return train_input, train_target, test_input, test_target


def test_one_hot_labels_are_zeros_and_a_one_as_in_the_course():
    out = prologue.convert_to_one_hot_labels(torch.zeros(3, 5), torch.tensor([0, 2, 1]))
    assert out.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]] and out.dtype == torch.float32


@pytest.mark.parametrize('options', [
    dict(one_hot_labels=False, normalize=False, flatten=True, full=False, tiny=False),
    dict(one_hot_labels=True, normalize=True, flatten=False, full=False, tiny=True),
    dict(one_hot_labels=True, normalize=False, flatten=True, full=True, tiny=False),
])
def test_load_data_is_the_courses(fake_mnist, options):
    mnist = [t for train in (True, False) for t in prologue.load_mnist(str(fake_mnist), train)]
    expected = course_load_data(*mnist, **options)
    ours = prologue.load_data(data_dir=str(fake_mnist), **options)
    for a, b in zip(ours, expected):
        assert a.dtype == b.dtype and torch.equal(a, b)
    assert len(ours[0]) == (2000 if options['full'] else 500 if options['tiny'] else 1000)


def test_load_data_refuses_full_and_tiny_together(fake_mnist):
    with pytest.raises(ValueError, match='full and tiny'):
        prologue.load_data(data_dir=str(fake_mnist), full=True, tiny=True)


def test_generate_pair_sets_reads_mnist_files(fake_mnist):
    sets = prologue.generate_pair_sets(50, data_dir=str(fake_mnist),
                                       generator=torch.Generator().manual_seed(0))
    assert len(sets) == 6
    assert [tuple(t.shape) for t in sets] == [(50, 2, 14, 14), (50,), (50, 2)] * 2
    assert sets[0].max() <= 255 and sets[0].min() >= 0, 'no normalisation in the data API'
    again = prologue.generate_pair_sets(50, data_dir=str(fake_mnist),
                                        generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(sets, again)), 'the generator fixes the draw'


def test_data_dir_follows_course_convention(monkeypatch):
    monkeypatch.setenv('PYTORCH_DATA_DIR', '/somewhere')
    assert prologue.resolve_data_dir() == '/somewhere'
    assert prologue.resolve_data_dir('/explicit') == '/explicit'
    monkeypatch.delenv('PYTORCH_DATA_DIR')
    assert prologue.resolve_data_dir() == './data'


def test_missing_data_gives_a_message_naming_folder_and_files(tmp_path, monkeypatch):
    from torchvision import datasets

    def offline(self):
        raise RuntimeError('Error downloading train-images-idx3-ubyte.gz: no network')
    monkeypatch.setattr(datasets.MNIST, 'download', offline)
    with pytest.raises(prologue.MnistUnavailable) as caught:
        prologue.load_mnist(str(tmp_path))
    message = str(caught.value)
    assert str(tmp_path / 'mnist' / 'MNIST' / 'raw') in message
    assert all(name in message for name in prologue.MNIST_FILES)
    assert 'PYTORCH_DATA_DIR' in message and '--data_dir' in message


def test_import_does_not_read_the_command_line():
    # In a fresh interpreter: reloading the module here would swap its exception
    # class for the rest of the test session.
    code = ("import sys; sys.argv = ['test.py', '--rounds', '3', '--unknown']; "
            "import dlc_practical_prologue; print('imported')")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0 and result.stdout == 'imported\n', result.stderr


def write_labels_file(tmp_path, content):
    raw = tmp_path / 'mnist' / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    (raw / 't10k-labels-idx1-ubyte').write_bytes(content)
    return raw / 't10k-labels-idx1-ubyte'


def test_truncated_mnist_file_is_named(tmp_path):
    path = write_labels_file(tmp_path, b'\0' * 100)
    with pytest.raises(prologue.MnistUnavailable, match='truncated') as caught:
        prologue.load_mnist(str(tmp_path), train=False)
    assert str(path) in str(caught.value) and 'delete' in str(caught.value)


def test_corrupt_mnist_file_is_named(tmp_path):
    path = write_labels_file(tmp_path, b'\0' * 10_008)  # the right size, the wrong bytes
    with pytest.raises(prologue.MnistUnavailable, match='corrupt: its MD5') as caught:
        prologue.load_mnist(str(tmp_path), train=False)
    assert str(path) in str(caught.value)


def test_corrupt_file_from_the_command_line_exits_1(tmp_path):
    write_labels_file(tmp_path, b'\0' * 10_008)
    (tmp_path / 'mnist' / 'MNIST' / 'raw' / 'train-labels-idx1-ubyte').write_bytes(b'\0' * 60_008)
    result = run_script('test.py', '--data_dir', tmp_path, '--models', 'mlp', '--rounds', '1',
                        '--workers', '1', env={prologue.SKIP_CHECK_VARIABLE: None})
    assert result.returncode == 1
    assert 'train-labels-idx1-ubyte is corrupt' in result.stderr and 'Traceback' not in result.stderr


def test_real_mnist_passes_the_check():
    folder = real_mnist_dir()
    if folder is None:
        pytest.skip('real MNIST not available')
    prologue.check_mnist_files(f'{folder}/mnist/MNIST/raw', list(prologue.MNIST_FILES))
