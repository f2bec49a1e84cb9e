"""Datasets: sizes and class balance, the CIFAR pickle format, safety, transforms, clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from phydnn.data import (
    iterate_batches,
    load_cifar,
    load_dataset,
    load_fashion_mnist,
    normalize,
)
from phydnn.data.fashion_mnist import FASHION_MNIST_ROOT
from phydnn.data.transforms import random_crop, random_hflip
from phydnn.errors import ConfigError, DatasetNotFoundError

needs_fmnist = pytest.mark.skipif(not FASHION_MNIST_ROOT.is_dir(),
                                  reason="dataset-fashion-mnist is not installed")


@needs_fmnist
@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_sizes_and_balance(split, n):
    d = load_fashion_mnist(split)
    assert d.images.shape == (n, 1, 28, 28) and d.images.dtype == torch.uint8
    assert torch.equal(torch.bincount(d.labels), torch.full((10,), n // 10))
    assert d.classes[0] == "T-shirt/top" and len(d.classes) == 10
    # real images: not blank, full dynamic range
    assert int(d.images.max()) == 255 and 0.2 < float(d.images.float().mean() / 255) < 0.4


@needs_fmnist
def test_fashion_mnist_normalisation_statistics_hold_on_train():
    d = load_fashion_mnist("train")
    x = normalize(d.images[:20000], d.mean, d.std)
    assert float(x.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(x.std()) == pytest.approx(1.0, abs=0.02)


def test_missing_fashion_mnist_says_what_to_install(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist("test", root=tmp_path)


def test_digits_split_is_stratified_and_disjoint(digits_train, digits_test):
    assert len(digits_train) + len(digits_test) == 1797
    assert torch.equal(torch.bincount(digits_test.labels), torch.full((10,), 36))
    assert digits_train.images.shape[1:] == (1, 8, 8)
    train_rows = {bytes(r) for r in digits_train.images.flatten(1).numpy()}
    overlap = sum(bytes(r) in train_rows for r in digits_test.images.flatten(1).numpy())
    assert overlap < 10  # a handful of identical digits exist in the raw data


def _write_cifar10(root: Path, n_per_batch: int = 20) -> np.ndarray:
    """Write a tiny CIFAR-10 folder in the real format (protocol-2 pickles of dicts)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        first = data if first is None else first
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * n_per_batch}, f, protocol=2)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names, b"num_cases_per_batch": n_per_batch}, f, protocol=2)
    return first


def test_cifar10_reads_the_real_format(tmp_path):
    first = _write_cifar10(tmp_path)
    train = load_cifar("cifar10", "train", tmp_path)
    test = load_dataset("cifar10", "test", tmp_path / "cifar-10-batches-py")
    assert train.images.shape == (100, 3, 32, 32) and len(test) == 20
    assert train.classes[9] == "truck"
    # channel-major rows: the first 1024 bytes are the red plane of image 0
    assert np.array_equal(train.images[0, 0].numpy().ravel(), first[0, :1024])


def test_cifar100_reads_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", 30), ("test", 10)):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": np.zeros((n, 3072), np.uint8), b"fine_labels": [99] * n,
                         b"coarse_labels": [19] * n}, f, protocol=2)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, f)
    d = load_cifar("cifar100", "train", tmp_path)
    assert len(d) == 30 and int(d.labels[0]) == 99 and d.num_classes == 100


def test_cifar_pickle_cannot_run_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": Evil(), b"labels": []}, f)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_cifar("cifar10", "test", tmp_path)


def test_missing_cifar_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        load_cifar("cifar10", "train", tmp_path)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ConfigError, match="fashion-mnist"):
        load_dataset("mnist")


def test_random_crop_shifts_content_and_keeps_shape():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6) + 1
    gen = torch.Generator().manual_seed(0)
    y = random_crop(x, 2, gen)
    assert y.shape == x.shape
    for i in range(2):  # every crop is a shifted window of the zero-padded image
        padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
        windows = [padded[:, r:r + 6, c:c + 6] for r in range(5) for c in range(5)]
        assert any(torch.equal(y[i], w) for w in windows)


def test_hflip_flips_about_half():
    x = torch.arange(4, dtype=torch.float32).view(1, 1, 1, 4).repeat(2000, 1, 1, 1)
    y = random_hflip(x, torch.Generator().manual_seed(0))
    flipped = (y[:, 0, 0, 0] == 3).float().mean()
    assert 0.45 < float(flipped) < 0.55


def test_batches_cover_the_dataset_once_and_shard_for_ddp(digits_train):
    seen = torch.cat([y for _, y in iterate_batches(digits_train, 100)])
    assert torch.equal(seen, digits_train.labels)
    gen = torch.Generator().manual_seed(3)
    r0 = [y for _, y in iterate_batches(digits_train, 64, True, generator=gen, world_size=2)]
    gen.manual_seed(3)
    r1 = [y for _, y in iterate_batches(digits_train, 64, True, generator=gen, rank=1,
                                        world_size=2)]
    assert sum(len(y) for y in r0) == sum(len(y) for y in r1) == len(digits_train) // 2


def test_negative_batch_size_is_refused(digits_train):
    with pytest.raises(ConfigError, match="batch_size="):
        next(iterate_batches(digits_train, -1))
