"""Chapter 6's FULL_SIZE path (MNIST at 28x28, the paper's stem, 64 channels) on tiny IDX files.

The chapter's FULL_SIZE switch recomputes the experiment `ch06_classifiers` with its
`FULL_SIZE_SETTINGS` (`nodelib.course.experiments.run`). No GPU and no MNIST download are
available to the tests, so this test writes a few 28x28 images in MNIST's IDX format
(uncompressed and gzip-compressed, in torchvision's folder layout as well), and runs that
same code on them for one epoch: reading the files, the paper's stem (28 -> 6), every network
at the paper's width, the training loop and the results. Only the data and the number of
epochs differ from a real full-size run.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

from nodelib.course import experiments
from nodelib.course.experiments.ch06_classifiers import FULL_SIZE_SETTINGS, make_classifier
from nodelib.data import load_mnist


def _write_idx(path: Path, data: torch.Tensor) -> None:
    """An IDX file of unsigned bytes: magic 0x00000803-style header, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, data.dim()]) + b"".join(struct.pack(">I", n) for n in data.shape)
    raw = header + data.to(torch.uint8).numpy().tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def _tiny_mnist(root: Path, n_train: int, n_test: int, *, gz: bool) -> None:
    """Random 28x28 'digits' whose label is a bright pixel's row band, in IDX files."""
    gen = torch.Generator().manual_seed(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = torch.arange(n) % 10
        images = torch.randint(0, 40, (n, 28, 28), generator=gen)
        images[torch.arange(n), 2 + 2 * labels, 14] = 255  # a learnable signal
        suffix = ".gz" if gz else ""
        _write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", images)
        _write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


@pytest.mark.parametrize("gz", [False, True])
def test_tiny_idx_files_read_as_mnist(tmp_path: Path, gz: bool) -> None:
    _tiny_mnist(tmp_path, 12, 6, gz=gz)
    x, y = load_mnist(tmp_path, train=True)
    assert x.shape == (12, 1, 28, 28) and x.dtype == torch.float32
    assert y.tolist() == [k % 10 for k in range(12)]
    assert float(x.max()) == 1.0 and float(x.min()) >= 0.0
    x_test, _ = load_mnist(tmp_path, train=False)
    assert x_test.shape == (6, 1, 28, 28)


def test_full_size_settings_are_the_papers() -> None:
    assert FULL_SIZE_SETTINGS["data"] == "mnist" and FULL_SIZE_SETTINGS["image_size"] == 28
    assert FULL_SIZE_SETTINGS["width"] == 64 and FULL_SIZE_SETTINGS["n_blocks"] == 6
    # The paper's stem downsamples 28x28 to 6x6 before the ODE block.
    model = make_classifier("ODE-Net", FULL_SIZE_SETTINGS, 0)
    assert model.stem(torch.zeros(2, 1, 28, 28)).shape == (2, 64, 6, 6)
    # The paper's Table 1: 0.22 M (ODE-Net), 0.60 M (ResNet), 0.24 M (MLP). Its architecture
    # as described (nodelib.models.odenet) gives 208,266 and 577,546.
    sizes = {k: sum(p.numel() for p in make_classifier(k, FULL_SIZE_SETTINGS, 0).parameters())
             for k in ("ODE-Net", "ResNet", "MLP")}  # fmt: skip
    assert sizes["ODE-Net"] == pytest.approx(0.22e6, rel=0.06)
    assert sizes["ResNet"] == pytest.approx(0.60e6, rel=0.04)
    assert sizes["MLP"] == pytest.approx(0.24e6, rel=0.01)


def test_full_size_run_on_tiny_mnist_files(tmp_path: Path) -> None:
    root = tmp_path / "mnist" / "MNIST" / "raw"  # torchvision's layout under mnist_root
    root.mkdir(parents=True)
    _tiny_mnist(root, 40, 20, gz=True)
    settings = {**FULL_SIZE_SETTINGS, "mnist_root": str(tmp_path / "mnist"), "epochs": 1}
    results = experiments.run("ch06_classifiers", seeds=[0], settings=settings)
    result = results.per_seed[0]
    assert result["n_test"] == 20
    assert set(result["test_error"]) == {"ResNet", "RK-Net", "ODE-Net", "MLP"}
    assert result["params"]["ODE-Net"] == pytest.approx(0.22e6, rel=0.06)
    ode = result["history"]["ODE-Net"]
    assert len(ode["nfe_forward"]) == 1 and ode["nfe_forward"][0] >= 14  # dopri5: 2 steps + 2
    assert ode["nfe_backward"][0] > 0  # trained by the adjoint
    state = results.checkpoints[0]["odenet"]
    assert state["stem.0.weight"].shape == (64, 1, 3, 3)  # the paper's first convolution
    assert results.fingerprint == experiments.fingerprint("ch06_classifiers", settings)
    with pytest.raises(FileNotFoundError, match="download=True"):
        experiments.run(
            "ch06_classifiers", seeds=[0], settings={**settings, "mnist_root": "/nowhere"}
        )
