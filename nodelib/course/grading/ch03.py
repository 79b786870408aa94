"""Chapter 3 (ResNets as discretised ODEs): the graded coding exercises and their tests.

Questions, each grading one name of ``exercises/ch03_resnets.ipynb``:

- C3.1 ``ResidualBlock(width, h=1.0)``: the module y -> y + h tanh(K y + b), with K and b in
  ``self.linear``; compared with `nodelib.models.ResidualLayer` on copied weights.
- C3.2 ``my_resnet``: a trained residual network of the reader's design for the digits; it
  must contain at least four residual blocks (sub-modules that become the identity when
  their weights are zero) and classify the held-out digits with an accuracy of at least
  `ACCURACY_THRESHOLD` (tests in `nodelib.course.grading._ch03_design`).
- C3.3 ``add_identity_layer(model, index)``: a deeper copy of a `nodelib.models.LayerNet`
  with a zero-weight layer inserted, compared with `LayerNet.with_identity_layer`.
- C3.4 ``gradient_ratio(depth, h, seed)``: how unbalanced the gradients of a LayerNet are at
  initialisation (first layer against last), compared with nodelib's; and C3.5
  ``ch3_experiment``, an experiment, read: the step h that keeps 64 layers' gradients
  balanced, and what to do with h at four times the depth (`_ch03_experiment`).

Failures name the typical mistake that explains them (no shortcut, a missing h, the
activation after the sum, a block modified in place, a layer that is not zero, ...).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from nodelib.course.grading import _ch03_design as design
from nodelib.course.grading import _ch03_experiment as experiment
from nodelib.course.grading.core import CheckFailed, Question, Test
from nodelib.course.grading.expect import expect_close, expect_tensor, random_state
from nodelib.models.resnets import LayerNet, ResidualLayer

__all__ = ["ACCURACY_THRESHOLD", "QUESTIONS"]

F64 = torch.float64
ACCURACY_THRESHOLD = design.ACCURACY_THRESHOLD


# --- C3.1 ResidualBlock -----------------------------------------------------------------------


def _build_block(cls: Any, width: int, h: float, device: torch.device, seed: int) -> nn.Module:
    """The reader's block with reproducible random weights, in float64 on `device`."""
    try:
        block = cls(width, h=h)
    except TypeError as err:
        raise CheckFailed(
            f"ResidualBlock({width}, h={h}) failed ({err}): the constructor must take the "
            "width and the keyword h, as in class ResidualBlock(nn.Module): "
            "def __init__(self, width, h=1.0)."
        ) from None
    if not isinstance(block, nn.Module):
        raise CheckFailed("ResidualBlock(...) should create an nn.Module (subclass nn.Module).")
    linear = getattr(block, "linear", None)
    if not isinstance(linear, nn.Linear) or (linear.in_features, linear.out_features) != (
        width,
        width,
    ):
        raise CheckFailed(
            f"the block should keep K and b in one linear layer from width {width} to width "
            f"{width}, the attribute linear; found {linear!r}."
        )
    block = block.to(device=device, dtype=F64)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(width, width, generator=g, dtype=F64) / width**0.5)
        linear.bias.copy_(torch.randn(width, generator=g, dtype=F64))
    return block


def _reference(block: nn.Module, h: float) -> ResidualLayer:
    ref = ResidualLayer(block.linear.in_features, h=h).to(block.linear.weight)
    ref.linear.load_state_dict(block.linear.state_dict())
    return ref


def _block_mistakes(block: nn.Module, y: Tensor, h: float) -> list[tuple[Tensor, str]]:
    z = block.linear(y)
    return [
        (torch.tanh(z), "You return tanh(K y + b): the shortcut is missing. Add y."),
        (y + torch.tanh(z), "You left out h: the update is h·tanh(K y + b)."),
        (torch.tanh(y + h * z), "You apply tanh after the sum: the block is y + h·tanh(K y + b)."),
        (y + torch.tanh(h * z), "h belongs outside tanh: y + h·tanh(K y + b)."),
        (y + h * torch.relu(z), "Use tanh as σ (you seem to use ReLU)."),
        (y - h * torch.tanh(z), "Check the sign: the block adds the update."),
    ]


def block_values(cls: Any, device: torch.device) -> str:
    cases = ((3, 1.0), (5, 0.25), (8, 0.1))
    for i, (width, h) in enumerate(cases):
        block = _build_block(cls, width, h, device, seed=300 + i)
        y = random_state((4, width), F64, device, seed=310 + i)
        before = y.clone()
        with torch.no_grad():
            out = expect_tensor(block(y), y, what="the block's output")
            expected = _reference(block, h)(y)
            mistakes = _block_mistakes(block, y, h)
        if not torch.equal(y, before):
            raise CheckFailed("the block changed its input in place: return y + ..., a new tensor.")
        expect_close(
            out, expected, what="the block's output", case=f"width {width}, h = {h}, a batch of 4",
            tol=1e-10, mistakes=mistakes, hint="The block computes y + h·tanh(K y + b).",
        )  # fmt: skip
    return "widths 3, 5, 8; h = 1, 0.25, 0.1; batches of 4"


def block_parameters(cls: Any, device: torch.device) -> str:
    block = _build_block(cls, 6, 0.5, device, seed=320)
    shapes = sorted(tuple(p.shape) for p in block.parameters())
    if shapes != [(6,), (6, 6)]:
        raise CheckFailed(
            f"the block's parameters have shapes {shapes}; expected one (6, 6) weight and one "
            "(6,) bias, those of self.linear (no other parameters: h is a fixed number)."
        )
    y = random_state((3, 6), F64, device, seed=321)
    block(y).square().sum().backward()
    if block.linear.weight.grad is None or float(block.linear.weight.grad.abs().sum()) == 0:
        raise CheckFailed("no gradient reaches self.linear.weight: use self.linear in forward.")
    return "one linear layer, width to width; gradients reach it"


def block_identity(cls: Any, device: torch.device) -> str:
    block = _build_block(cls, 5, 0.7, device, seed=330)
    with torch.no_grad():
        block.linear.weight.zero_()
        block.linear.bias.zero_()
        y = random_state((6, 5), F64, device, seed=331)
        out = expect_tensor(block(y), y, what="the output of a zero-weight block")
    if not torch.equal(out, y):
        raise CheckFailed(
            f"with K = 0 and b = 0 the block should return y exactly; it differs by "
            f"{float((out - y).abs().max()):.2g}. y + h·tanh(0) = y."
        )
    return "K = 0, b = 0 gives exactly y"


# --- C3.3 add_identity_layer ------------------------------------------------------------------


def _trained_like_net(device: torch.device, depth: int = 4, seed: int = 340) -> LayerNet:
    torch.manual_seed(seed)
    net = LayerNet(64, 10, width=12, depth=depth, h=0.5).to(device=device, dtype=F64)
    with torch.no_grad():  # non-zero biases everywhere, as after training
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net.eval()


def _call(fn: Any, net: LayerNet, index: int) -> nn.Module:
    out = fn(net, index)
    if not isinstance(out, nn.Module):
        raise CheckFailed(
            f"add_identity_layer should return the new network, not a {type(out).__name__}."
        )
    return out


def identity_copy(fn: Any, device: torch.device) -> str:
    net = _trained_like_net(device)
    state = copy.deepcopy(net.state_dict())
    out = _call(fn, net, 2)
    if out is net or len(net.layers) != 4:
        raise CheckFailed(
            "add_identity_layer changed the network it was given (it now has "
            f"{len(net.layers)} layers): work on a copy (copy.deepcopy copies a network)."
        )
    if any(not torch.equal(state[k], v) for k, v in net.state_dict().items()):
        raise CheckFailed("add_identity_layer changed the weights of the network it was given.")
    layers = getattr(out, "layers", None)
    if not isinstance(layers, nn.ModuleList) or len(layers) != 5:
        found = "no .layers" if layers is None else f"{len(layers)} layers"
        raise CheckFailed(
            f"the new network should have 4 + 1 = 5 layers in .layers; found {found}."
        )
    return "a new network with one more layer; the original is untouched"


def identity_function(fn: Any, device: torch.device) -> str:
    for index in (0, 2, 4):
        net = _trained_like_net(device)
        x = random_state((16, 64), F64, device, seed=350 + index)
        with torch.no_grad():
            before, after = net(x), _call(fn, net, index)(x)
        expect_tensor(after, before, what="the deeper network's output")
        difference = float((after - before).abs().max())
        if difference > 0:
            raise CheckFailed(
                f"inserting at index {index} changes the output by {difference:.2g}; a layer "
                "with zero weight AND zero bias is exactly the identity. Did you keep random "
                "weights, or a non-zero bias, or insert a PlainLayer (σ(0·y) = 0, not y)?"
            )
    return "the same outputs, exactly, for index 0, 2 and 4 (the end)"


def identity_position(fn: Any, device: torch.device) -> str:
    net = _trained_like_net(device)
    out = _call(fn, net, 1)
    expected = net.with_identity_layer(1).state_dict()
    got = out.state_dict()
    if set(got) != set(expected):
        raise CheckFailed(
            "the new network's parameters are not those of a LayerNet with one more "
            "ResidualLayer; insert a copy of one of its residual layers, with zeroed "
            "weight and bias, among the copy's layers."
        )
    wrong = [k for k in expected if not torch.equal(got[k], expected[k])]
    if wrong:
        raise CheckFailed(
            f"the parameters {wrong[:3]} differ from nodelib's: the zero layer belongs "
            "before layer `index` (index len(model.layers) appends it), and the other layers "
            "keep their weights and order."
        )
    return "the zero layer sits at the index asked for"


QUESTIONS: tuple[Question, ...] = (
    Question("C3.1", "ResidualBlock", "a residual block: one Euler step of y' = tanh(K y + b)", 3, (
        Test("matches one Euler step of y' = tanh(K y + b)", block_values),
        Test("its parameters are those of self.linear", block_parameters),
        Test("zero weights give the identity", block_identity),
    )),
    Question("C3.2", "my_resnet", "a ResNet of your design for the digits", 3, (
        Test("maps (batch, 64) to (batch, 10) logits", design.output_shape),
        Test("has at least 4 residual blocks", design.residual_blocks),
        Test(f"test accuracy >= {ACCURACY_THRESHOLD:.0%}", design.accuracy_on_test_set,
             timeout=30.0),
    ), kind="value"),
    Question("C3.3", "add_identity_layer", "a deeper network that computes the same function", 2, (
        Test("returns a deeper copy", identity_copy),
        Test("computes exactly the same function", identity_function),
        Test("puts the zero layer at the index", identity_position),
    )),
    Question("C3.4", "gradient_ratio", "how unbalanced a deep network's gradients are", 2,
             experiment.RATIO_TESTS),
    Question("C3.5", "ch3_experiment", "an experiment: the step that keeps 64 layers trainable",
             3, experiment.EXPERIMENT_TESTS, kind="value"),
)  # fmt: skip
