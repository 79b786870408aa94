"""nodelib.course.profiling: saved bytes and peaks, against sizes worked out by hand."""

from __future__ import annotations

import pytest
import torch

import nodelib
from nodelib.course.profiling import count_host_syncs, peak_memory_bytes, saved_tensor_bytes

pytestmark = pytest.mark.usefixtures("one_thread")


def test_counts_each_saved_storage_once() -> None:
    x = torch.randn(100, dtype=torch.float64, requires_grad=True)
    # exp saves its output (800 bytes); x * x saves x twice: one storage, 800 bytes.
    value, saved = saved_tensor_bytes(lambda: (torch.exp(x) + x * x).sum())
    assert saved == 2 * 100 * 8
    assert torch.allclose(value, (torch.exp(x) + x * x).sum())


def test_nothing_is_saved_without_grad() -> None:
    x = torch.randn(100)
    _, saved = saved_tensor_bytes(lambda: torch.tanh(x).sum())
    assert saved == 0


def _field() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 8))


def _loss(steps: int, adjoint: bool) -> int:
    net = _field()
    y0 = torch.randn(16, 8)
    t = torch.tensor([0.0, 1.0])
    options = {"step_size": 1.0 / steps}

    def f(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return net(y)

    def run() -> torch.Tensor:
        if adjoint:
            out = nodelib.odeint_adjoint(
                f, y0, t, method="rk4", options=options, adjoint_params=tuple(net.parameters())
            )
        else:
            out = nodelib.odeint(f, y0, t, method="rk4", options=options)
        return out[-1].square().sum()

    loss, saved = saved_tensor_bytes(run)
    loss.backward()  # the graph that was counted is a working one
    return saved


def test_backprop_memory_grows_linearly_with_steps_and_the_adjoints_does_not() -> None:
    backprop = [_loss(n, adjoint=False) for n in (10, 20, 40)]
    adjoint = [_loss(n, adjoint=True) for n in (10, 20, 40)]
    # Each RK4 step saves the same activations: the increments are equal.
    assert backprop[2] - backprop[1] == pytest.approx(2 * (backprop[1] - backprop[0]), rel=0.02)
    assert backprop[2] > 3.5 * backprop[0]
    assert adjoint[0] == adjoint[1] == adjoint[2]
    assert adjoint[0] < backprop[0] / 5


def test_peak_memory_on_the_cpu_sees_a_temporary_and_what_cycles_keep() -> None:
    def temporary() -> float:
        big = torch.ones(4, 1024, 1024)  # 16 MiB, freed on return
        return float(big.sum())

    value, peak = peak_memory_bytes(temporary, "cpu")
    assert value == 4 * 1024 * 1024
    assert 16 * 2**20 <= peak < 17 * 2**20

    def cycles() -> None:
        for _ in range(8):  # 8 MiB in tensors that only the cycle collector frees
            holder: list = [torch.ones(256, 1024)]
            holder.append(holder)

    def no_cycles() -> None:
        for _ in range(8):
            holder = [torch.ones(256, 1024)]
            holder.append(len(holder))

    assert peak_memory_bytes(cycles, "cpu")[1] >= 8 * 2**20
    # At most two at once: each new MiB is allocated before the previous one is freed.
    assert peak_memory_bytes(no_cycles, "cpu")[1] <= 2 * 2**20


def test_peak_memory_refuses_other_devices() -> None:
    with pytest.raises(ValueError, match="CPU or a CUDA device"):
        peak_memory_bytes(lambda: None, "meta")


@pytest.mark.gpu
def test_peak_memory_on_cuda_sees_a_large_temporary() -> None:
    device = torch.device("cuda")

    def work() -> float:
        big = torch.ones(64, 1024, 1024, device=device)  # 256 MiB, freed on return
        return float(big.sum())

    value, peak = peak_memory_bytes(work, device)
    assert value == 64 * 1024 * 1024
    assert peak >= 256 * 1024 * 1024


def test_count_host_syncs_counts_each_kind_of_read_once() -> None:
    x = torch.arange(6.0)
    mask = x > 2

    def work() -> None:
        x.sum().item()  # 1
        float(x[0])  # 2
        bool(mask.any())  # 3
        if x[1] > 0:  # 4
            pass
        x[mask]  # 5: boolean-mask indexing
        x[mask] = 0.0  # 6: and assignment
        mask.nonzero()  # 7
        torch.where(mask)  # 8
        x.tolist()  # 9
        # Not reads: shapes, integer indexing, arithmetic, a mask used on the device.
        _ = x.shape[0], x[torch.tensor([0, 2])], torch.where(mask, x, 0.0), x * 2

    tolist = torch.Tensor.tolist
    _, sites = count_host_syncs(work)
    assert sites.total() == 9, sites
    kinds = {site.split(" at ")[0] for site in sites}
    assert kinds == {"item", "boolean mask", "nonzero", "tolist"}
    assert all(__file__ in site for site in sites)  # the caller, not PyTorch's internals
    assert torch.Tensor.tolist is tolist and "tolist" not in vars(torch.Tensor)  # undone
