"""MNIST from its raw IDX files, downloaded only when asked (``download=True``)."""

from __future__ import annotations

import gzip
import math
import os
import urllib.request
import warnings
from pathlib import Path

import torch
from torch import Tensor

_MNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def read_idx(path: str | os.PathLike[str]) -> Tensor:
    """Read an IDX file of unsigned bytes (the format of MNIST), plain or gzip-compressed.

    Layout: two zero bytes, the type code 0x08 (unsigned byte), the number of dimensions d,
    then d big-endian 32-bit sizes, then the data in row-major order.

    Args:
        path: the file; a name ending in ``.gz`` is decompressed.

    Returns:
        uint8 tensor with the stored shape, e.g. (N, 28, 28) for images, (N,) for labels.

    Raises:
        ValueError: the file is not an unsigned-byte IDX file or is truncated.
    """
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(
            f"{path} is not an IDX file of unsigned bytes (bad magic number); "
            "delete it and get it again"
        )
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    start = 4 + 4 * ndim
    if len(raw) != start + math.prod(shape):
        raise ValueError(
            f"{path} holds {len(raw) - start} data bytes, its header promises "
            f"shape {shape}; the file is damaged: delete it and get it again"
        )
    return torch.frombuffer(bytearray(raw[start:]), dtype=torch.uint8).reshape(shape)


def _find_idx(root: Path, name: str) -> Path | None:
    for folder in (root, root / "MNIST" / "raw"):  # the second is torchvision's layout
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _download_mnist(root: Path, names: tuple[str, ...]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        if _find_idx(root, name) is not None:
            continue
        urls = [m + name + ".gz" for m in _MNIST_MIRRORS]
        for url in urls:
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    data = response.read()
            except OSError:
                continue
            tmp = root / f"{name}.gz.part"
            tmp.write_bytes(data)
            tmp.replace(root / f"{name}.gz")
            break
        else:
            raise RuntimeError(
                f"could not download {name}.gz from any of {urls}; check the "
                f"connection or place the file in {root} by hand"
            )


def load_mnist(
    root: str | os.PathLike[str],
    *,
    train: bool = True,
    download: bool = False,
    use_torchvision: bool = False,
) -> tuple[Tensor, Tensor]:
    """MNIST from its raw IDX files (meant for Colab with a GPU; the chapters use digits).

    Looks for ``train-images-idx3-ubyte``/``train-labels-idx1-ubyte`` (or the ``t10k-`` pair),
    optionally ``.gz``, in ``root`` or ``root/MNIST/raw``. Downloads them only when ``download``.

    Args:
        root: folder of the files.
        train: the 60000 training images, else the 10000 test images.
        download: fetch the missing files (``.gz``) into ``root`` over the network.
        use_torchvision: read through ``torchvision.datasets.MNIST`` when torchvision is
            importable (else a warning, and the own reader is used).

    Returns:
        Images (N, 1, 28, 28) float32 in [0, 1] and labels (N,) long.

    Raises:
        FileNotFoundError: files missing and ``download`` is False.
        ValueError: damaged files, or image and label counts that differ.
        RuntimeError: a download failed.
    """
    root = Path(root)
    if use_torchvision:
        try:
            import torchvision
        except ImportError:
            warnings.warn(
                "torchvision is not importable; reading the IDX files directly", stacklevel=2
            )
        else:
            ds = torchvision.datasets.MNIST(str(root), train=train, download=download)
            return ds.data.unsqueeze(1).float() / 255.0, ds.targets.long()
    names = _MNIST_FILES[bool(train)]
    if download:
        _download_mnist(root, names)
    paths = [_find_idx(root, name) for name in names]
    if any(p is None for p in paths):
        missing = [n for n, p in zip(names, paths, strict=True) if p is None]
        raise FileNotFoundError(
            f"MNIST files {missing} (plain or .gz) not found in {root} or {root / 'MNIST/raw'}; "
            "call load_mnist(root, download=True) to fetch them, or download them from "
            f"{_MNIST_MIRRORS[0]} into that folder (sklearn's load_digits needs no download)"
        )
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"{paths[0]} and {paths[1]} do not match: shapes "
            f"{tuple(images.shape)} and {tuple(labels.shape)}"
        )
    return images.unsqueeze(1).float() / 255.0, labels.long()
