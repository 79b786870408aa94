"""Tests of nodelib.device: device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

import nodelib
from nodelib.device import available_devices, choose_device, seed_everything


def _draw() -> tuple[list[float], np.ndarray, torch.Tensor]:
    """One draw from each generator seed_everything is responsible for."""
    return (
        [random.random() for _ in range(3)],
        np.random.standard_normal(5),
        torch.randn(5),
    )


def test_same_seed_gives_same_draws() -> None:
    seed_everything(1234)
    first = _draw()
    seed_everything(1234)
    second = _draw()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert torch.equal(first[2], second[2])


def test_different_seed_gives_different_draws() -> None:
    seed_everything(1)
    first = _draw()
    seed_everything(2)
    second = _draw()
    assert first[0] != second[0]
    assert not np.array_equal(first[1], second[1])
    assert not torch.equal(first[2], second[2])


def test_seed_fixes_torch_generator_state_not_only_first_draw() -> None:
    # A later draw must repeat too: the generator itself is reset, not one value patched.
    seed_everything(7)
    torch.randn(100)
    late_a = torch.rand(4)
    seed_everything(7)
    torch.randn(100)
    late_b = torch.rand(4)
    assert torch.equal(late_a, late_b)


@pytest.mark.parametrize("bad", [-1, 2**32])
def test_seed_out_of_range_raises_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)


@pytest.mark.parametrize("bad", [1.5, "0", True])
def test_seed_of_wrong_type_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="seed"):
        seed_everything(bad)  # type: ignore[arg-type]


def test_prefer_cpu_gives_cpu_and_tensors_go_there() -> None:
    device = choose_device("cpu")
    assert device == torch.device("cpu")
    assert torch.zeros(2, device=device).device.type == "cpu"


def test_default_choice_is_best_available() -> None:
    available = available_devices()
    assert available[-1] == "cpu"
    assert choose_device().type == available[0]
    if torch.cuda.is_available():
        assert choose_device().type == "cuda"


@pytest.mark.parametrize("bogus", ["bogus", "graphics-card", "meta", "cuda:x", ""])
def test_bogus_prefer_raises_value_error_listing_devices(bogus: str) -> None:
    with pytest.raises(ValueError, match=r"Available here: .*'cpu'"):
        choose_device(bogus)


def test_unavailable_device_type_raises_value_error() -> None:
    missing = [name for name in ("cuda", "mps") if name not in available_devices()]
    if not missing:
        pytest.skip("this machine has both CUDA and MPS")
    with pytest.raises(ValueError, match=f"no {missing[0]}"):
        choose_device(missing[0])


def test_cuda_index_beyond_device_count_raises_value_error() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA to have an index to exceed")
    with pytest.raises(ValueError, match="CUDA device"):
        choose_device(f"cuda:{torch.cuda.device_count()}")


def test_prefer_of_wrong_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="prefer"):
        choose_device(0)  # type: ignore[arg-type]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_seed_repeats_draws_on_gpu() -> None:
    device = choose_device("cuda")
    seed_everything(3)
    first = torch.randn(8, device=device)
    seed_everything(3)
    second = torch.randn(8, device=device)
    assert torch.equal(first, second)


def test_helpers_are_exported_from_package() -> None:
    assert nodelib.choose_device is choose_device
    assert nodelib.seed_everything is seed_everything
    assert {"choose_device", "seed_everything"} <= set(nodelib.__all__)


def test_seed_comes_from_the_environment_when_none_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NODELIB_SEED", raising=False)
    assert seed_everything(default=5) == 5
    first = torch.rand(3)
    monkeypatch.setenv("NODELIB_SEED", "11")
    assert seed_everything(default=5) == 11  # the variable replaces the notebook's default
    from_env = torch.rand(3)
    assert seed_everything(11) == 11  # ... and draws what an explicit seed 11 draws
    assert torch.equal(torch.rand(3), from_env)
    assert not torch.equal(first, from_env)
    assert seed_everything(3) == 3  # an explicit seed is never replaced


def test_a_seed_variable_that_is_not_an_integer_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NODELIB_SEED", "one")
    with pytest.raises(ValueError, match="NODELIB_SEED='one' is not an integer"):
        seed_everything()
