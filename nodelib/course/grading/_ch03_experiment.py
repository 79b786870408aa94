"""Chapter 3's experiment (C3.4, C3.5): which residual step keeps 64 layers trainable.

Part of `nodelib.course.grading.ch03`, kept apart for length. C3.4 grades the reader's
``gradient_ratio(depth, h, seed)``: after seeding with `seed`, a `nodelib.models.LayerNet`
from 64 pixels to 10 classes of width 32 (Glorot initialisation, tanh) and its
cross-entropy loss on the first 256 training digits, the norm of dL/dK of the first residual
layer divided by that of the last. It is compared with `reference_ratio`. C3.5 grades the
dict ``ch3_experiment``: the ratios at depth 64 for the steps `HS` and three seeds, the
largest of these steps whose ratios all stay within a factor 2 of 1 (every seed: the
answer does not depend on the seeds, see tests/test_grading_ch03.py), and what to do with h
to make the network four times deeper.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.course.grading.answers import answer_dict, expect_choice, number, numbers
from nodelib.course.grading.core import CheckFailed, Test
from nodelib.device import seed_everything

__all__ = ["DEPTH", "EXPERIMENT_TESTS", "HS", "RATIO_TESTS", "reference_ratio"]

DEPTH = 64
HS = (1.0, 0.5, 0.125, 0.03125)  # 1, 1/2, 1/8, 1/32
BALANCED = 0.125  # the largest of HS whose ratios lie in [1/2, 2] on every seed
NAME = "ch3_experiment"
KEYS = ("seeds", "ratios", "h_for_64", "four_times_deeper")


@cache
def _batch() -> tuple[Tensor, Tensor]:
    from nodelib.data import load_digits

    x_train, y_train, _, _ = load_digits()  # the split of seed 0, whatever SEED is
    return x_train[:256].flatten(1), y_train[:256]


@cache
def reference_ratio(depth: int, h: float, seed: int) -> float:
    """|dL/dK_0| / |dL/dK_{depth-1}| at initialisation (the reader's function, done right)."""
    from nodelib.models import LayerNet

    seed_everything(seed)
    net = LayerNet(64, 10, width=32, depth=depth, h=h)
    x, y = _batch()
    loss = nn.functional.cross_entropy(net(x), y)
    first, last = torch.autograd.grad(
        loss, [net.layers[0].linear.weight, net.layers[-1].linear.weight]
    )
    return float(first.norm() / last.norm())


def _variant(depth: int, h: float, seed: int, *, bias: bool = False, all_images: bool = False):
    from nodelib.data import load_digits
    from nodelib.models import LayerNet

    seed_everything(seed)
    net = LayerNet(64, 10, width=32, depth=depth, h=h)
    x, y = _batch()
    if all_images:
        x_train, y, _, _ = load_digits()
        x = x_train.flatten(1)
    loss = nn.functional.cross_entropy(net(x), y)
    which = "bias" if bias else "weight"
    first, last = torch.autograd.grad(
        loss, [getattr(net.layers[0].linear, which), getattr(net.layers[-1].linear, which)]
    )
    return float(first.norm() / last.norm())


def ratio_values(fn: Any, device: torch.device) -> str:
    for depth, h, seed in ((8, 0.5, 3), (16, 1.0, 0), (4, 0.25, 11)):
        got = number(fn(depth, h, seed), f"gradient_ratio({depth}, {h}, {seed})")
        right = reference_ratio(depth, h, seed)
        if abs(got - right) <= 1e-4 * right:
            continue
        mistakes = [
            (1 / right, "That is the inverse: divide the first layer's gradient norm by the "
             "last layer's."),
            (_variant(depth, h, seed, bias=True), "You took the gradients of the biases b_k; "
             "the question is about the weights K_k (layer.linear.weight)."),
            (_variant(depth, h, seed, all_images=True), "You used all the training images; "
             "use the first 256, so that every run sees the same batch."),
        ]  # fmt: skip
        why = next(
            (m for v, m in mistakes if abs(got - v) <= 1e-4 * abs(v)),
            "Seed (nodelib's seed_everything) right before building the LayerNet, so that its "
            "initial weights are those of the seed, and compare the norms of "
            "the gradients of net.layers[0].linear.weight and net.layers[-1].linear.weight.",
        )
        raise CheckFailed(
            f"gradient_ratio({depth}, {h}, {seed}) returned {got:.4g}; the ratio is "
            f"{right:.4g}. {why}"
        )
    return "3 networks (depth 4 to 16, h = 1/4 to 1), as nodelib computes them"


RATIO_TESTS = (Test("matches the ratio of nodelib's LayerNet", ratio_values, timeout=30.0),)


def _ratios(answers: dict[str, Any]) -> tuple[list[int], dict[float, list[float]]]:
    seeds = [number(s, "each seed of 'seeds'") for s in numbers(answers["seeds"], "'seeds'")]
    if len(seeds) != 3 or any(s != int(s) or s < 0 for s in seeds) or len(set(seeds)) != 3:
        raise CheckFailed(
            "'seeds' should hold three different seeds, e.g. SEED, SEED + 1 and SEED + 2."
        )
    table = answers["ratios"]
    if type(table) is not dict or len(table) != len(HS):
        raise CheckFailed(f"'ratios' should be a dict h -> [one ratio per seed] for h in {HS}.")
    found: dict[float, list[float]] = {}
    for key, row in table.items():
        h = number(key, "each key of 'ratios'")
        match = [v for v in HS if abs(v - h) <= 1e-9]
        if not match:
            raise CheckFailed(f"'ratios' has the key {h:g}; its keys should be the steps {HS}.")
        found[match[0]] = numbers(row, f"ratios[{h:g}]", 3)
    return [int(s) for s in seeds], found


def table(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    seeds, found = _ratios(answers)
    for h in HS:
        for seed, got in zip(seeds, found[h], strict=True):
            right = reference_ratio(DEPTH, h, seed)
            if abs(got - right) > 1e-4 * right:
                raise CheckFailed(
                    f"ratios[{h:g}] for seed {seed} is {got:.4g}; a re-run gives {right:.4g}. "
                    f"Fill the table with your gradient_ratio({DEPTH}, h, seed)."
                )
    return f"{len(HS) * 3} ratios re-measured at depth {DEPTH}"


def h_for_64(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    got = number(answers["h_for_64"], "'h_for_64'")
    if not 0 < got <= 4:
        raise CheckFailed(f"'h_for_64' is {got:g}: a step size is a positive number, here <= 4.")
    if abs(got - BALANCED) <= 1e-9:
        return f"h = {got:g}: every layer gets a gradient of about the same size"
    shown = ", ".join(f"{reference_ratio(DEPTH, got, s):.2f}" for s in range(4))
    if got > BALANCED:
        raise CheckFailed(
            f"'h_for_64' is {got:g}: with that step the first layer's gradient is "
            f"{shown} times the last one's (seeds 0 to 3). The product of {DEPTH} factors "
            "I + h diag(σ') K_k grows like e^(c N h): pick the largest step whose ratios stay "
            "within a factor 2 on every seed."
        )
    raise CheckFailed(
        f"'h_for_64' is {got:g}: its ratios ({shown}, seeds 0 to 3) are balanced, but so are "
        f"those of a larger step of the list, {BALANCED:g}. The smaller h, the smaller the "
        f"whole update N·h that the {DEPTH} layers can make: take the largest balanced one."
    )


def four_times_deeper(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    deep, same_h, same_t = 4 * DEPTH, BALANCED, BALANCED / 4
    r_h, r_t = reference_ratio(deep, same_h, 0), reference_ratio(deep, same_t, 0)
    data = (
        f"At depth {deep} (seed 0) the ratio is {r_h:.2f} with h = {same_h:g} and {r_t:.2f} "
        f"with h = {same_t:g}."
    )
    wrong = {
        "a": f"With the same h, four times as many factors I + h diag(σ') K_k multiply: the "
        f"ratio grows like e^(c N h). {data}",
        "c": f"A larger h makes every factor further from the identity, and there are more of "
        f"them. {data}",
        "d": f"The residual network does train at that depth if its step shrinks with the "
        f"depth, keeping T = N h fixed. {data}",
    }
    return expect_choice(answers["four_times_deeper"], "'four_times_deeper'", "b", wrong,
                         note=data)  # fmt: skip


EXPERIMENT_TESTS = (
    Test("the table is that of a re-run", table, timeout=30.0),
    Test("the largest step that keeps the gradients balanced", h_for_64, timeout=30.0),
    Test("what to do with h at four times the depth", four_times_deeper, timeout=30.0),
)
