"""nodelib.ensemble: a batched ensemble trains each member exactly as `fit` trains it alone."""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch
from torch import nn

import nodelib
from nodelib.course.train import fit
from nodelib.data import sample_2d
from nodelib.ensemble import ensemble_forward, fit_density_ensemble, fit_ensemble
from nodelib.models import LayerNet
from nodelib.models.flows import (
    AffineCoupling,
    Flow,
    StandardNormal,
    alternating_mask,
    fit_density,
)


def _data(n: int = 203) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    x = torch.randn(n, 6, generator=g, dtype=torch.float64)
    return x, (x[:, 0] * x[:, 1] > 0).long() + (x[:, 2] > 0.5).long()  # 3 classes


def _nets(seeds: list[int], **kwargs: object) -> list[LayerNet]:
    nets = []
    for seed in seeds:
        nodelib.seed_everything(seed)
        nets.append(LayerNet(6, 3, width=5, depth=3, **kwargs).double())
    return nets


@pytest.mark.parametrize("residual", [True, False])
def test_members_equal_separately_trained_models(residual: bool) -> None:
    seeds = [3, 4, 11]
    kwargs = {"h": 0.5} if residual else {"residual": False}
    members = _nets(seeds, **kwargs)
    alone = [copy.deepcopy(m) for m in members]
    data = _data()  # 203 examples: the last batch of each epoch is smaller (203 = 3 * 64 + 11)
    losses = fit_ensemble(members, data, loss_fn=nn.CrossEntropyLoss(), seeds=seeds, epochs=3,
                          lr=1e-2, batch_size=64, device="cpu")  # fmt: skip
    assert losses.shape == (3, len(seeds)) and losses.dtype == torch.float64
    for m, (model, seed) in enumerate(zip(alone, seeds, strict=True)):
        history = fit(model, data, loss_fn=nn.CrossEntropyLoss(), epochs=3, lr=1e-2,
                      batch_size=64, seed=seed, device="cpu", progress=False)  # fmt: skip
        # the same batches and the same Adam updates: equal up to the round-off of a batched
        # matrix product (float64; in practice the results are bit for bit the same)
        torch.testing.assert_close(losses[:, m], torch.tensor(history.loss, dtype=torch.float64),
                                   rtol=1e-10, atol=1e-12)  # fmt: skip
        for (name, a), b in zip(members[m].named_parameters(), model.parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=name)


def test_members_differ_and_training_lowers_the_loss() -> None:
    members = _nets([0, 1])
    losses = fit_ensemble(members, _data(), loss_fn=nn.CrossEntropyLoss(), seeds=[0, 1],
                          epochs=5, lr=1e-2, batch_size=32, device="cpu")  # fmt: skip
    assert (losses[-1] < losses[0]).all()
    assert not torch.equal(members[0].head.weight, members[1].head.weight)
    assert not members[0].training  # left in eval mode


def test_the_batch_order_depends_on_the_seed() -> None:
    # the same initial weights, shuffled with different seeds, end up different
    members = _nets([0, 0])
    fit_ensemble(members, _data(), loss_fn=nn.CrossEntropyLoss(), seeds=[0, 1], epochs=1,
                 lr=1e-2, batch_size=32, device="cpu")  # fmt: skip
    assert not torch.equal(members[0].head.weight, members[1].head.weight)


def test_ensemble_forward_matches_each_member() -> None:
    members = _nets([0, 1, 2])
    x = _data()[0][:17]
    out = ensemble_forward(members, x)
    assert out.shape == (3, 17, 3)
    for m, model in enumerate(members):
        torch.testing.assert_close(out[m], model(x))
        torch.testing.assert_close(ensemble_forward(members, x, skip={1})[m], model(x, skip={1}))


def test_invalid_arguments() -> None:
    data = _data()
    loss = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match="at least one"):
        fit_ensemble([], data, loss_fn=loss, seeds=[])
    with pytest.raises(ValueError, match="one seed per model"):
        fit_ensemble(_nets([0, 1]), data, loss_fn=loss, seeds=[0])
    with pytest.raises(ValueError, match="one architecture"):
        nodelib.seed_everything(0)
        deeper = LayerNet(6, 3, width=5, depth=4).double()
        fit_ensemble([*_nets([0]), deeper], data, loss_fn=loss, seeds=[0, 1])
    with pytest.raises(ValueError, match="epochs"):
        fit_ensemble(_nets([0]), data, loss_fn=loss, seeds=[0], epochs=0)
    with pytest.raises(ValueError, match="batch_size"):
        fit_ensemble(_nets([0]), data, loss_fn=loss, seeds=[0], batch_size=True)
    with pytest.raises(ValueError, match="differ in length"):
        fit_ensemble(_nets([0]), (data[0], data[1][:-1]), loss_fn=loss, seeds=[0])
    with pytest.raises(ValueError, match="one architecture"):
        ensemble_forward([*_nets([0]), nn.Linear(6, 3).double()], data[0])


def test_the_density_ensemble_trains_each_member_as_fit_density_would() -> None:
    """The chapter trains its seeds together: member m must follow fit_density's own run."""
    target = partial(sample_2d, "eight_gaussians")

    def flow(seed: int) -> Flow:
        torch.manual_seed(seed)
        layers = [AffineCoupling(2, alternating_mask(2, k % 2), hidden=8) for k in range(3)]
        return Flow(StandardNormal(2), layers).double()

    members = [flow(0), flow(1)]
    losses = fit_density_ensemble(
        members,
        target,
        steps=15,
        batch_size=32,
        lr=1e-2,
        generators=[torch.Generator().manual_seed(s) for s in (5, 6)],
    )
    assert losses.shape == (15, 2)
    for m, seed in enumerate((0, 1)):
        alone = flow(seed)
        single = fit_density(
            alone,
            target,
            steps=15,
            batch_size=32,
            lr=1e-2,
            generator=torch.Generator().manual_seed(5 + m),
        )
        assert torch.allclose(losses[:, m], torch.tensor(single, dtype=torch.float64), atol=1e-10)
        for p, q in zip(members[m].parameters(), alone.parameters(), strict=True):
            assert torch.allclose(p, q, atol=1e-10)
    assert not torch.allclose(losses[:, 0], losses[:, 1])  # the members are different runs
