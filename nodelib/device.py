"""Where tensors live and how runs are made repeatable.

Two helpers that every notebook of the course calls in its first cell:

* :func:`choose_device` picks the accelerator a reader has (CUDA, then Apple's MPS,
  then the CPU), so that the same notebook runs unchanged on a laptop, a workstation
  or Colab;
* :func:`seed_everything` fixes the seeds of every random number generator a notebook
  touches (Python's ``random``, NumPy's global generator and PyTorch on CPU and CUDA),
  so that a rerun draws the same numbers; the environment variable ``NODELIB_SEED``
  replaces a notebook's own seed, to rerun a chapter with other random numbers.

Seeding makes draws repeatable; it does not make every GPU kernel deterministic.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["available_devices", "choose_device", "seed_everything"]

# Order of preference when the caller does not name a device.
_PREFERENCE = ("cuda", "mps", "cpu")


def _mps_available() -> bool:
    """Whether Apple's Metal backend exists in this build of PyTorch and can be used."""
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and bool(backend.is_available())


def available_devices() -> list[str]:
    """List the device types this machine can use, best first.

    Returns:
        A list drawn from ``["cuda", "mps", "cpu"]`` in that order of preference;
        ``"cpu"`` is always present.
    """
    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if _mps_available():
        found.append("mps")
    found.append("cpu")
    return found


def choose_device(prefer: str | None = None) -> torch.device:
    """Pick the device on which a notebook creates its tensors and models.

    Without ``prefer`` the best available device is returned: CUDA when there is an
    NVIDIA GPU, else MPS on Apple silicon, else the CPU.

    Args:
        prefer: a device string to insist on, such as ``"cpu"``, ``"cuda"``,
            ``"cuda:1"`` or ``"mps"``. ``None`` (default) chooses automatically.

    Returns:
        The chosen ``torch.device``.

    Raises:
        TypeError: if ``prefer`` is neither ``None`` nor a string.
        ValueError: if ``prefer`` is not a device PyTorch knows, is a device type
            this machine does not have, or names a CUDA index beyond the number of
            GPUs. The message lists the devices that are available.
    """
    available = available_devices()
    if prefer is None:
        return torch.device(available[0])
    if not isinstance(prefer, str):
        raise TypeError(
            f"prefer must be a device string such as 'cpu' or 'cuda', or None; got "
            f"{type(prefer).__name__}."
        )
    hint = f"Available here: {', '.join(repr(name) for name in available)}; or pass prefer=None."
    try:
        device = torch.device(prefer.strip().lower())
    except RuntimeError as err:
        raise ValueError(f"prefer={prefer!r} is not a device PyTorch knows. {hint}") from err
    if device.type not in _PREFERENCE:
        raise ValueError(f"prefer={prefer!r}: nodelib supports cuda, mps and cpu. {hint}")
    if device.type not in available:
        raise ValueError(f"prefer={prefer!r}, but this machine has no {device.type}. {hint}")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ValueError(
                f"prefer={prefer!r}, but this machine has {count} CUDA device(s), "
                f"numbered 0 to {count - 1}. {hint}"
            )
    return device


SEED_VARIABLE = "NODELIB_SEED"


def _seed_from_environment(default: int) -> int:
    text = os.environ.get(SEED_VARIABLE, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(
            f"{SEED_VARIABLE}={text!r} is not an integer: set it to a seed such as 0, 1, 2 "
            f"(or unset it to use the notebook's own seed)."
        ) from None


def seed_everything(seed: int | None = None, *, default: int = 0) -> int:
    """Seed Python's ``random``, NumPy's global generator and PyTorch (CPU and all GPUs).

    After ``seed_everything(s)`` the same sequence of calls to ``random``,
    ``numpy.random`` and ``torch`` draws the same numbers; a different ``s`` draws
    different ones.

    Called without `seed`, it takes the seed from the environment variable
    ``NODELIB_SEED`` when that is set, else `default`. Every chapter's set-up cell calls
    ``SEED = nodelib.seed_everything(default=0)`` and derives every later random choice
    from ``SEED`` (``SEED + 1``, ...), so ``NODELIB_SEED=3 jupyter ...`` reruns a whole
    chapter with other random numbers (``scripts/check_claims.py`` does this).

    Args:
        seed: a non-negative integer below ``2**32`` (NumPy's limit), used as it is.
        default: the seed when `seed` is None and ``NODELIB_SEED`` is unset.

    Returns:
        The seed used.

    Raises:
        TypeError: if the seed is not an integer (``bool`` is refused too).
        ValueError: if the seed is negative or not below ``2**32``, or ``NODELIB_SEED``
            is not an integer.
    """
    if seed is None:
        seed = _seed_from_environment(default)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}.")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(
            f"seed must lie in [0, 2**32); got {seed}. Pick a non-negative int below that."
        )
    random.seed(seed)
    np.random.seed(seed)
    # torch.manual_seed also seeds every CUDA device (lazily, if CUDA is not yet initialised).
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed
