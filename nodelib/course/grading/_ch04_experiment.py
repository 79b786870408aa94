"""Chapter 4's experiment (C4.5): how many coupling layers a target needs, read off the losses.

Part of `nodelib.course.grading.ch04`, kept apart for length. The target is the Gaussian
N(μ, L Lᵀ) in the plane with μ = (1.5, -0.5) and L = [[0.5, 0], [0.6, 0.4]] (`sample_target`,
entropy `TARGET_ENTROPY`). The reader trains coupling flows (`nodelib.models.flows.Flow` of
`AffineCoupling` layers with the masks ``alternating_mask(2, k % 2)``) of 1, 2 and 4 layers
with `fit_density` and answers in a dict ``ch4_experiment``:

- ``"depth"``: the smallest of the three depths whose test loss comes within 0.1 nats of the
  entropy, the floor of every model;
- ``"gap_one_layer"``: how far above the floor the one-layer flow's loss levels off, read off
  its curve;
- ``"gap_predicted"``: that gap, predicted: one layer leaves its kept coordinate x_1 = z_1,
  so the flow's first marginal is the base's N(0, 1), and the loss cannot fall below the
  entropy plus KL(N(1.5, 0.5²) ‖ N(0, 1)) = `ONE_LAYER_GAP`;
- ``"more_steps"``: a letter, whether training the one-layer flow longer would close its gap.

The grader evaluates the reader's own flows on fresh target points and compares each loss
curve with its flow, so the answers are judged on the reader's training run.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor

from nodelib.course.grading.answers import answer_dict, expect_choice, number, numbers
from nodelib.course.grading.core import CheckFailed, Test

__all__ = ["EXPERIMENT_TESTS", "ONE_LAYER_GAP", "TARGET_ENTROPY", "sample_target"]

F64 = torch.float64
_MEAN, _SCALE = (1.5, -0.5), ((0.5, 0.0), (0.6, 0.4))
TARGET_ENTROPY = 1.0 + math.log(2 * math.pi) + math.log(0.5 * 0.4)  # (d/2)(1 + log 2π) + log|L|
_M1, _S1 = _MEAN[0], _SCALE[0][0]  # the first coordinate's marginal: N(1.5, 0.5²)
ONE_LAYER_GAP = 0.5 * (_S1**2 + _M1**2 - 1 - math.log(_S1**2))  # KL(N(1.5, 0.5²) ‖ N(0, 1))
DEPTHS = (1, 2, 4)
FLOOR_MARGIN = 0.1  # nats: "reaches the floor"
NAME = "ch4_experiment"
KEYS = ("flows", "losses", "depth", "gap_one_layer", "gap_predicted", "more_steps")


def sample_target(n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """`n` points (n, 2) float32 of C4.5's target N(μ, L Lᵀ); its entropy is TARGET_ENTROPY."""
    eps = torch.randn(n, 2, generator=generator, dtype=F64)
    return (torch.tensor(_MEAN, dtype=F64) + eps @ torch.tensor(_SCALE, dtype=F64).T).float()


def _flow(value: Any, depth: int) -> Any:
    from nodelib.models.flows import AffineCoupling, Flow, StandardNormal, alternating_mask

    what = f"flows[{depth}]"
    if not isinstance(value, Flow) or type(value.base) is not StandardNormal:
        raise CheckFailed(
            f"{what} should be a nodelib.models.flows.Flow with a StandardNormal base."
        )
    layers = list(value.layers)
    if len(layers) != depth or not all(type(layer) is AffineCoupling for layer in layers):
        raise CheckFailed(f"{what} should hold {depth} AffineCoupling layer(s).")
    for k, layer in enumerate(layers):
        if not torch.equal(layer.mask.cpu().float(), alternating_mask(2, k % 2)):
            raise CheckFailed(
                f"layer {k} of {what} should have the mask alternating_mask(2, {k % 2})."
            )
    return copy.deepcopy(value).cpu().float().eval()


def _test_gaps(answers: dict[str, Any]) -> dict[int, float]:
    """Each flow's test loss minus the entropy, on fresh target points."""
    flows = answers["flows"]
    if type(flows) is not dict or sorted(flows) != list(DEPTHS):
        raise CheckFailed(
            f"'flows' should be a dict depth -> trained Flow, for the depths {DEPTHS}."
        )
    x = sample_target(5000, generator=torch.Generator().manual_seed(4040))
    gaps = {}
    for depth in DEPTHS:
        with torch.no_grad():
            nll = float(-_flow(flows[depth], depth).log_prob(x).mean())
        if not math.isfinite(nll):
            raise CheckFailed(f"flows[{depth}] gives a test loss of {nll}: train it again.")
        gaps[depth] = nll - TARGET_ENTROPY
    return gaps


def curves(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    gaps, losses = _test_gaps(answers), answers["losses"]
    if type(losses) is not dict or sorted(losses) != list(DEPTHS):
        raise CheckFailed(
            f"'losses' should be a dict depth -> the list of training losses, for {DEPTHS}."
        )
    for depth in DEPTHS:
        curve = numbers(losses[depth], f"losses[{depth}]")
        if len(curve) < 50:
            raise CheckFailed(
                f"losses[{depth}] holds {len(curve)} losses; train for at least 50 steps."
            )
        end, test = sum(curve[-20:]) / 20, gaps[depth] + TARGET_ENTROPY
        if abs(end - test) > 0.15:
            raise CheckFailed(
                f"The last 20 training losses of the {depth}-layer flow average {end:.3f} nats, "
                f"but that flow's loss on fresh target points is {test:.3f}: these are not the "
                "losses of its training. Keep the list that fit_density returns for each flow."
            )
    return (
        "each curve ends at its flow's test loss ("
        + ", ".join(f"{d} layer(s): {gaps[d] + TARGET_ENTROPY:.3f}" for d in DEPTHS)
        + " nats)"
    )


def depth(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    gaps = _test_gaps(answers)
    got = number(answers["depth"], "'depth'")
    shown = ", ".join(f"{d}: {gaps[d]:.3f}" for d in DEPTHS)
    if gaps[2] > FLOOR_MARGIN:
        raise CheckFailed(
            f"Your 2-layer flow stays {gaps[2]:.3f} nats above the floor (gaps by depth: "
            f"{shown}): train it for more steps, then read the answer."
        )
    if got == 2:
        return f"2 layers (test loss minus the entropy, by depth: {shown})"
    if got == 1:
        raise CheckFailed(
            f"'depth' is 1, but the one-layer flow stays {gaps[1]:.2f} nats above the floor, "
            f"far from within {FLOOR_MARGIN}: gaps by depth {shown}."
        )
    raise CheckFailed(
        f"'depth' is {got:g}: two layers already come within {FLOOR_MARGIN} nats of the floor "
        f"({gaps[2]:.3f}; gaps by depth {shown}). More layers cost more and gain nothing here."
    )


def gap_one_layer(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    gaps = _test_gaps(answers)
    got = number(answers["gap_one_layer"], "'gap_one_layer'")
    if abs(got - gaps[1]) <= 0.1:
        return f"the one-layer flow levels off {gaps[1]:.2f} nats above the floor"
    if abs(got - (gaps[1] + TARGET_ENTROPY)) <= 0.1:
        why = (f"That is the loss itself; the gap is the loss minus the floor, the entropy "
               f"{TARGET_ENTROPY:.3f}.")  # fmt: skip
    elif abs(got - gaps[2]) <= 0.1:
        why = "That is the gap of the 2-layer flow."
    else:
        why = "Average the last losses of the one-layer curve, and subtract the entropy."
    raise CheckFailed(
        f"'gap_one_layer' is {got:g}, but your one-layer flow's test loss is {gaps[1]:.3f} "
        f"nats above the floor. {why}"
    )


def _kl(m: float, s: float) -> float:
    return 0.5 * (s**2 + m**2 - 1 - math.log(s**2))


def gap_predicted(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    got = number(answers["gap_predicted"], "'gap_predicted'")
    if abs(got - ONE_LAYER_GAP) <= 0.01:
        return f"KL(N(1.5, 0.5²) ‖ N(0, 1)) = {ONE_LAYER_GAP:.4f}"
    reverse = 0.5 * (1 / _S1**2 + _M1**2 / _S1**2 - 1 + math.log(_S1**2))
    mistakes = [
        (reverse, "That is KL(N(0, 1) ‖ N(1.5, 0.5²)); the loss measures KL(ρ ‖ p_θ), the "
         "target first: KL(N(1.5, 0.5²) ‖ N(0, 1))."),
        (_kl(_M1, math.sqrt(_S1)), "You used the standard deviation 0.5 where the variance "
         "0.25 belongs."),
        (0.5 * (_S1**2 + _M1**2 - 1), "The term -log σ² is missing."),
        (0.5 * _M1**2, "That is the mean's share alone; the variance differs too."),
        (_kl(_MEAN[1], math.hypot(*_SCALE[1])), "That is the second coordinate's marginal; "
         "the first layer keeps the first coordinate, x_1 = z_1 (mask alternating_mask(2, 0))."),
    ]  # fmt: skip
    why = next(
        (m for v, m in mistakes if abs(got - v) <= 0.01),
        "One layer leaves x_1 = z_1, so the flow's first marginal is N(0, 1) whatever it "
        "learns, while the target's is N(1.5, 0.5²). The best it can do matches the rest: its "
        "loss exceeds the entropy by the KL divergence between these two Gaussians.",
    )
    raise CheckFailed(f"'gap_predicted' is {got:g}. {why}")


MORE_STEPS = {
    "a": "The curve is flat, and it is flat at the value the model class allows: no parameter "
    "of a one-layer flow moves its first coordinate, x_1 = z_1.",
    "c": "The learning rate changes how fast the loss approaches its floor, not the floor: the "
    "one-layer flow's first marginal is N(0, 1) for every parameter value.",
}


def more_steps(value: Any, device: torch.device) -> str:
    answers = answer_dict(value, NAME, KEYS)
    note = "a limit of the model, not of the training"
    return expect_choice(answers["more_steps"], "'more_steps'", "b", MORE_STEPS, note=note)


EXPERIMENT_TESTS = (
    Test("the flows are trained coupling flows, and the curves are theirs", curves, timeout=30.0),
    Test("the smallest depth that reaches the floor", depth, timeout=30.0),
    Test("the one-layer flow's gap, read off its curve", gap_one_layer, timeout=30.0),
    Test("that gap, predicted", gap_predicted),
    Test("whether more steps would close it", more_steps),
)
