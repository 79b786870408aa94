"""Chapter 3's tests of the reader's own ResNet (question C3.2), kept apart for length.

The network is checked as a black box: its output on flattened digits, how many of its
sub-modules are residual blocks, and its accuracy on the held-out digits. A residual block
is recognised by what makes it residual: with all its weights set to zero it is the
identity map (the written exercise of chapter 3), which a plain layer never is.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.course.grading.core import CheckFailed

__all__ = [
    "ACCURACY_THRESHOLD",
    "MIN_BLOCKS",
    "accuracy_on_test_set",
    "output_shape",
    "residual_blocks",
]

ACCURACY_THRESHOLD = 0.93
MIN_BLOCKS = 4


def _model(value: Any) -> nn.Module:
    if not isinstance(value, nn.Module):
        raise CheckFailed(f"my_resnet should be a trained nn.Module, not a {type(value).__name__}.")
    return copy.deepcopy(value).cpu().float().eval()


def _digits() -> tuple[Tensor, Tensor, Tensor]:
    from nodelib.data import load_digits

    x_train, _, x_test, y_test = load_digits()  # the chapter's split (seed 0)
    return x_train.flatten(1), x_test.flatten(1), y_test


def _logits(model: nn.Module, x: Tensor) -> Tensor:
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, Tensor) or tuple(out.shape) != (len(x), 10):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise CheckFailed(
            f"my_resnet(x) for x of shape {tuple(x.shape)} (flattened digits) returned {shape}; "
            f"expected logits of shape ({len(x)}, 10). Flatten inside the model if it needs to."
        )
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed("my_resnet's output contains inf or nan.")
    return out


def output_shape(value: Any, device: torch.device) -> str:
    _logits(_model(value), _digits()[1][:7])
    return "logits of shape (batch, 10)"


def _inputs_of_submodules(model: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """The single tensor each sub-module received, when it got one and returned its shape."""
    seen: dict[str, Tensor] = {}

    def hook(name: str):
        def record(module: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            if (len(args) == 1 and isinstance(args[0], Tensor) and isinstance(out, Tensor)
                    and out.shape == args[0].shape and name not in seen):  # fmt: skip
                seen[name] = args[0].detach()

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _identity_at_zero(module: nn.Module, y: Tensor) -> bool:
    params = list(module.parameters())
    if not params:
        return False
    zeroed = copy.deepcopy(module)
    with torch.no_grad():
        for p in zeroed.parameters():
            p.zero_()
        out = zeroed(y)
    return isinstance(out, Tensor) and out.shape == y.shape and torch.equal(out, y)


def count_residual_blocks(model: nn.Module, x: Tensor) -> int:
    """How many sub-modules are the identity at zero weights, none inside another one."""
    inputs = _inputs_of_submodules(model, x)
    found = [name for name, y in inputs.items()
             if _identity_at_zero(model.get_submodule(name), y)]  # fmt: skip
    # Keep the innermost ones: a Sequential of residual blocks is also the identity at zero.
    return sum(not any(o != n and o.startswith(n + ".") for o in found) for n in found)


def residual_blocks(value: Any, device: torch.device) -> str:
    model = _model(value)
    count = count_residual_blocks(model, _digits()[1][:32])
    if count < MIN_BLOCKS:
        raise CheckFailed(
            f"found {count} residual block(s), sub-modules that are the identity when their "
            f"weights are zero; the network needs at least {MIN_BLOCKS}. Build it from your "
            "ResidualBlock of C3.1 (each one an nn.Module called on the state) or from "
            "nodelib.models.ResidualLayer; a plain layer tanh(K y + b) does not count."
        )
    return f"{count} residual blocks"


def accuracy_on_test_set(value: Any, device: torch.device) -> str:
    model = _model(value)
    _, x_test, y_test = _digits()
    accuracy = float((_logits(model, x_test).argmax(1) == y_test).float().mean())
    if accuracy < ACCURACY_THRESHOLD:
        raise CheckFailed(
            f"my_resnet classifies {accuracy:.1%} of the held-out digits correctly; at least "
            f"{ACCURACY_THRESHOLD:.0%} is needed. Train longer, or with a step h = T/N, or "
            "check that you trained on x_train flattened to (N, 64)."
        )
    return f"test accuracy {accuracy:.1%}"
