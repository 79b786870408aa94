"""Tests of nodelib.course.train: the fit loop, its History, and training under DDP with
torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nodelib.course.train import History, fit, init_distributed, is_main_process
from nodelib.models.blocks import NODEClassifier
from nodelib.models.odenet import ODENet

pytestmark = pytest.mark.usefixtures("one_thread")


def _regression(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3


def _circles(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    return x, (x.norm(dim=1) > 1.1).long()


def test_fit_linear_regression_records_every_epoch() -> None:
    torch.manual_seed(0)
    x, y = _regression()
    model = nn.Linear(3, 1)
    h = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=5, batch_size=16, lr=0.1,
            device="cpu", progress=False)  # fmt: skip
    assert isinstance(h, History)
    assert len(h.loss) == len(h.seconds) == 5 and h.loss[-1] < 0.2 * h.loss[0]
    assert h.accuracy == h.eval_loss == h.nfe_forward == h.nfe_backward == []  # not measured
    assert set(h.as_dict()) == {"loss", "accuracy", "eval_loss", "eval_accuracy",
                                "nfe_forward", "nfe_backward", "seconds"}  # fmt: skip
    assert all(s > 0 for s in h.seconds)
    # the recorded loss is the mean over the epoch's examples, as evaluated in the epoch
    with torch.no_grad():
        final = float(nn.functional.mse_loss(model(x), y))
    assert final <= h.loss[-1]


def test_fit_follows_the_learning_rate_schedule() -> None:
    # SGD on one full batch: the step of epoch e is lr * schedule(e) times the gradient, so
    # a schedule that is 0 from the second epoch on leaves the weights of epoch 1 unchanged.
    x, y = _regression(8)
    seen: list[float] = []
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def schedule(epoch: int) -> float:
        seen.append(epoch)
        return 1.0 if epoch == 0 else 0.0

    fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, batch_size=8, optimizer=opt,
        lr_schedule=schedule, progress=False, device="cpu")  # fmt: skip
    after_one = [p.detach().clone() for p in model.parameters()]
    h = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=3, batch_size=8,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), lr_schedule=schedule,
            progress=False, device="cpu")  # fmt: skip
    moved = [p.detach() for p in model.parameters()]
    # The second fit's first epoch (factor 1) moved the weights; its later ones (0) did not.
    assert h.loss[1] == pytest.approx(h.loss[2])
    assert any(not torch.equal(a, b) for a, b in zip(after_one, moved, strict=True))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0)  # stepped once: schedule(1) = 0
    assert seen[:2] == [0, 1]


def test_fit_is_reproducible_and_accepts_a_dataloader() -> None:
    x, y = _regression()
    runs = []
    for data in [(x, y), (x, y), DataLoader(TensorDataset(x, y), batch_size=16)]:
        torch.manual_seed(0)
        model = nn.Linear(3, 1)
        h = fit(model, data, loss_fn=nn.MSELoss(), epochs=2, batch_size=16, seed=3,
                device="cpu", progress=False)  # fmt: skip
        runs.append((h.loss, model.weight.detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])
    assert runs[2][0][-1] < runs[2][0][0]  # an unshuffled loader trains too


@pytest.mark.parametrize("adjoint", [False, True])
def test_fit_records_accuracy_and_nfe_of_an_ode_model(adjoint: bool) -> None:
    torch.manual_seed(0)
    x, y = _circles()
    model = NODEClassifier(2, 16, 2, adjoint=adjoint)
    h = fit(model, (x, y), loss_fn=nn.CrossEntropyLoss(), epochs=3, batch_size=32, lr=2e-2,
            metric="accuracy", eval_data=(x, y), device="cpu", progress=False)  # fmt: skip
    assert h.loss[-1] < h.loss[0]
    assert all(0.0 <= a <= 1.0 for a in h.accuracy + h.eval_accuracy)
    assert len(h.eval_loss) == len(h.eval_accuracy) == 3
    assert all(n >= 6 for n in h.nfe_forward)  # at least one dopri5 step
    if adjoint:
        assert all(n > 0 for n in h.nfe_backward)
    else:
        assert h.nfe_backward == [0.0] * 3


def test_fit_custom_metric_and_progress_bar() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(20, 1, 8, 8), torch.arange(20) % 10
    model = ODENet(width=8, image_size=8, adjoint=False)

    def top3(out: torch.Tensor, target: torch.Tensor) -> float:
        return float((out.topk(3, dim=1).indices == target[:, None]).any(1).float().mean())

    h = fit(model, (x, y), loss_fn=nn.CrossEntropyLoss(), epochs=1, batch_size=10,
            metric=top3, device="cpu", progress=True)  # fmt: skip
    assert len(h.accuracy) == 1 and 0.0 <= h.accuracy[0] <= 1.0


def test_fit_rejects_bad_arguments() -> None:
    x, y = _regression(8)
    model, mse = nn.Linear(3, 1), nn.MSELoss()
    with pytest.raises(ValueError, match="epochs"):
        fit(model, (x, y), loss_fn=mse, epochs=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, (x, y), loss_fn=mse, epochs=1, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="loss_fn"):
        fit(model, (x, y), epochs=1, metric="accuracy", progress=False)
    with pytest.raises(ValueError, match="metric"):
        fit(model, (x, y), loss_fn=mse, epochs=1, metric="f1", progress=False)
    with pytest.raises(TypeError, match="DataLoader"):
        fit(model, x, loss_fn=mse, epochs=1, progress=False)
    with pytest.raises(ValueError, match="length"):
        fit(model, (x, y[:4]), loss_fn=mse, epochs=1, progress=False)
    with pytest.raises(ValueError, match="0-d"):
        fit(model, (x, y), loss_fn=nn.MSELoss(reduction="none"), epochs=1, progress=False)


def test_single_process_distributed_helpers(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert tuple(init_distributed()) == (0, 0, 1)
    assert is_main_process()


_DDP_SCRIPT = """
import sys
import torch
from torch import nn
from nodelib.models.blocks import NODEClassifier
from nodelib.course.train import cleanup_distributed, fit, init_distributed

info = init_distributed()
g = torch.Generator().manual_seed(0)
x = torch.randn(64, 2, generator=g)
y = (x.norm(dim=1) > 1.1).long()
torch.manual_seed(info.rank)  # different initial weights: DDP must broadcast rank 0's
model = NODEClassifier(2, 8, 2, adjoint=True)  # the model code knows nothing of DDP
h = fit(model, (x, y), loss_fn=nn.CrossEntropyLoss(), epochs=3, batch_size=16, lr=2e-2,
        progress=False, seed=1)
params = [p.detach().clone() for p in model.parameters()]
torch.save({"params": params, "loss": h.loss, "info": tuple(info)},
           f"{sys.argv[1]}/rank{info.rank}.pt")
cleanup_distributed()
"""


def test_ddp_two_processes_on_cpu(tmp_path: Path) -> None:
    script = tmp_path / "train_ddp.py"
    script.write_text(textwrap.dedent(_DDP_SCRIPT))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           str(script), str(tmp_path)]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert r0["info"] == (0, 0, 2) and r1["info"] == (1, 1, 2)
    # The ranks started from different weights and saw different halves of every epoch:
    # only DDP's broadcast at the start and its averaged gradients make them end equal.
    for p0, p1 in zip(r0["params"], r1["params"], strict=True):
        assert torch.equal(p0, p1)
    assert r0["loss"] == r1["loss"] and r0["loss"][-1] < r0["loss"][0]


@pytest.mark.gpu
def test_fit_on_cuda() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(32, 1, 28, 28), torch.arange(32) % 10
    model = ODENet(width=16, image_size=28)
    h = fit(model, (x, y), loss_fn=nn.CrossEntropyLoss(), epochs=2, batch_size=16, lr=1e-2,
            device="cuda", progress=False, metric="accuracy")  # fmt: skip
    assert next(model.parameters()).device.type == "cuda"
    assert h.loss[-1] < h.loss[0] and all(n > 0 for n in h.nfe_backward)
