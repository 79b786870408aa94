"""Every chapter 3 question can fail: typical wrong answers get the feedback that explains them.

The solution notebook's answers (run here without a kernel) pass every test; each wrong
answer differs from them by one mistake (no shortcut, a missing h, tanh after the sum, a
network modified in place, a plain network, an untrained one, ...) and must fail with a
message that names it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
from _grading_helpers import LyingFloat, solution_namespace, wrong_answer_feedback
from _scripts import ROOT
from torch import Tensor, nn

from nodelib.course.grading import chapter_questions, grade
from nodelib.course.grading._ch03_design import count_residual_blocks
from nodelib.models import LayerNet, PlainLayer, ResidualLayer

pytestmark = pytest.mark.usefixtures("one_thread")
SOLUTION = ROOT / "solutions" / "ch03_resnets.ipynb"
Namespace = dict[str, Any]


@pytest.fixture(scope="module")
def ns() -> Namespace:
    return solution_namespace(SOLUTION)


def test_solutions_pass_every_question(ns: Namespace) -> None:
    for question in chapter_questions(3):
        result = grade(question, ns[question.name])
        assert result.passed, (question.id, [t.feedback for t in result.tests])


def _block_class(forward: Any, *, name: str = "linear", extra_parameter: bool = False) -> type:
    class Block(nn.Module):
        def __init__(self, width: int, h: float = 1.0) -> None:
            super().__init__()
            setattr(self, name, nn.Linear(width, width))
            self.h = nn.Parameter(torch.tensor(h)) if extra_parameter else h

        def forward(self, y: Tensor) -> Tensor:
            return forward(self, y)

    return Block


@pytest.mark.parametrize(
    ("forward", "phrase"),
    [
        (lambda s, y: torch.tanh(s.linear(y)), "shortcut is missing"),
        (lambda s, y: y + torch.tanh(s.linear(y)), "left out h"),
        (lambda s, y: torch.tanh(y + s.h * s.linear(y)), "after the sum"),
        (lambda s, y: y + torch.tanh(s.h * s.linear(y)), "outside tanh"),
        (lambda s, y: y + s.h * torch.relu(s.linear(y)), "ReLU"),
        (lambda s, y: y.add_(s.h * torch.tanh(s.linear(y))), "in place"),
    ],
    ids=["no-shortcut", "no-h", "tanh-after-sum", "h-inside", "relu", "in-place"],
)
def test_residual_block_mistakes(forward: Any, phrase: str) -> None:
    assert phrase in wrong_answer_feedback("C3.1", _block_class(forward))


def test_residual_block_structure_mistakes() -> None:
    good = lambda s, y: y + s.h * torch.tanh(getattr(s, "lin", getattr(s, "linear", None))(y))  # noqa: E731
    assert "the attribute linear" in wrong_answer_feedback("C3.1", _block_class(good, name="lin"))
    assert "parameters have shapes" in wrong_answer_feedback(
        "C3.1", _block_class(good, extra_parameter=True)
    )

    class NoH(nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.linear = nn.Linear(width, width)

    assert "keyword h" in wrong_answer_feedback("C3.1", NoH)


def _trained(model: nn.Module, epochs: int = 15) -> nn.Module:
    from nodelib.course.train import fit
    from nodelib.data import load_digits

    x, y, _, _ = load_digits()
    fit(model, (x.flatten(1), y), loss_fn=nn.CrossEntropyLoss(), epochs=epochs, device="cpu",
        progress=False)  # fmt: skip
    return model


def test_my_resnet_mistakes() -> None:
    torch.manual_seed(0)
    plain = _trained(LayerNet(64, 10, width=32, depth=4, residual=False), epochs=10)
    assert "found 0 residual block(s)" in wrong_answer_feedback("C3.2", plain)
    torch.manual_seed(0)
    untrained = LayerNet(64, 10, width=32, depth=6, h=0.5)
    assert "held-out digits correctly" in wrong_answer_feedback("C3.2", untrained)
    torch.manual_seed(0)
    wrong_head = LayerNet(64, 5, width=8, depth=4, h=0.5)
    assert "expected logits of shape" in wrong_answer_feedback("C3.2", wrong_head)
    assert "trained nn.Module" in wrong_answer_feedback("C3.2", [1, 2, 3])


def test_residual_blocks_are_counted_once_each() -> None:
    x = torch.rand(3, 64)
    torch.manual_seed(0)
    assert count_residual_blocks(LayerNet(64, 10, width=8, depth=5, h=0.1), x) == 5
    assert count_residual_blocks(LayerNet(64, 10, width=8, depth=5, residual=False), x) == 0
    nested = nn.Sequential(nn.Linear(64, 8),
                           nn.Sequential(*[ResidualLayer(8) for _ in range(3)]),
                           nn.Sequential(ResidualLayer(8)), nn.Linear(8, 10))  # fmt: skip
    assert count_residual_blocks(nested, x) == 4


def _insert(model: LayerNet, index: int, layer: nn.Module, *, in_place: bool = False) -> LayerNet:
    new = model if in_place else copy.deepcopy(model)
    new.layers.insert(index, layer.to(next(model.parameters())))
    return new


def _zero(layer: nn.Module, *, bias: float = 0.0) -> nn.Module:
    with torch.no_grad():
        layer.linear.weight.zero_()
        layer.linear.bias.fill_(bias)
    return layer


def test_add_identity_layer_mistakes() -> None:
    def in_place(model: LayerNet, index: int) -> LayerNet:
        return _insert(model, index, _zero(copy.deepcopy(model.layers[0])), in_place=True)

    def random_layer(model: LayerNet, index: int) -> LayerNet:
        return _insert(model, index, ResidualLayer(model.layers[0].linear.in_features, h=0.5))

    def with_bias(model: LayerNet, index: int) -> LayerNet:
        return _insert(model, index, _zero(copy.deepcopy(model.layers[0]), bias=0.1))

    def plain(model: LayerNet, index: int) -> LayerNet:
        return _insert(model, index, _zero(PlainLayer(model.layers[0].linear.in_features)))

    def appended(model: LayerNet, index: int) -> LayerNet:
        return _insert(model, len(model.layers), _zero(copy.deepcopy(model.layers[0])))

    assert "changed the network it was given" in wrong_answer_feedback("C3.3", in_place)
    for wrong in (random_layer, with_bias, plain):
        assert "changes the output by" in wrong_answer_feedback("C3.3", wrong)
    assert "before layer `index`" in wrong_answer_feedback("C3.3", appended)


def test_gradient_ratio_mistakes(ns: Namespace) -> None:
    ratio = ns["gradient_ratio"]
    inverse = wrong_answer_feedback("C3.4", lambda d, h, s: 1 / ratio(d, h, s))
    assert "That is the inverse" in inverse
    wrong_seed = wrong_answer_feedback("C3.4", lambda d, h, s: ratio(d, h, s + 1))
    assert "right before building the LayerNet" in wrong_seed
    assert "should be a number" in wrong_answer_feedback("C3.4", lambda d, h, s: [1.0])


EXPERIMENT_CASES = {
    "too large a step": ({"h_for_64": 0.5}, "grows like e^(c N h)"),
    "a balanced step, not the largest": ({"h_for_64": 1 / 32}, "take the largest balanced one"),
    "the same h, deeper": ({"four_times_deeper": "a"}, "four times as many factors"),
    "no step helps": ({"four_times_deeper": "d"}, "if its step shrinks with the depth"),
    "made-up ratios": ({"ratios": {h: [1.0, 1.0, 1.0] for h in (1.0, 0.5, 0.125, 0.03125)}},
                       "a re-run gives"),
    "two seeds": ({"seeds": [0, 1]}, "three different seeds"),
    "a lying step": ({"h_for_64": LyingFloat(0.125)}, "not a LyingFloat"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(EXPERIMENT_CASES))
def test_experiment_mistakes(case: str, ns: Namespace) -> None:
    change, phrase = EXPERIMENT_CASES[case]
    feedback = wrong_answer_feedback("C3.5", {**ns["ch3_experiment"], **change})
    assert phrase in feedback, feedback
