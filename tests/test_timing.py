"""Tests of nodelib.course.timing: the clock, the minimum over repeats, threads restored, sizes.

What can be tested without flaky thresholds: the CPU clock does not count time spent
sleeping (waiting is what another process's load looks like to us), the wall clock does; the
minimum is taken; the thread count is restored even after an error; and the work timed for
a size is really of that size. The slopes themselves are checked on the chapter's glued
numbers (tests/test_chapter_04.py).
"""

from __future__ import annotations

import time

import pytest
import torch

from nodelib.course.timing import _logdet_call, logdet_times, threads, time_call


def test_cpu_clock_ignores_waiting_and_wall_clock_does_not():
    assert time_call(lambda: time.sleep(0.02), repeats=2, clock="cpu") < 0.01
    assert time_call(lambda: time.sleep(0.02), repeats=2, clock="wall") >= 0.02


def test_time_call_keeps_the_minimum():
    durations = iter([0.05, 0.0, 0.03, 0.04])  # the warm-up takes the first

    def work():
        time.sleep(next(durations))

    assert time_call(work, repeats=3, warmup=1, clock="wall") < 0.02


def test_threads_are_restored_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_logdet_work_has_the_right_size_and_value():
    dense = _logdet_call(5, "dense", seed=3)()
    g = torch.Generator().manual_seed(3)
    matrix = torch.randn(5, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(dense.logabsdet, torch.linalg.slogdet(matrix).logabsdet)
    tri = _logdet_call(6, "triangular", seed=4)()
    diag = torch.randn(6, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    torch.testing.assert_close(tri, diag.abs().log().sum())


def test_logdet_times_returns_one_positive_time_per_size():
    times = logdet_times([8, 16, 32], structure="dense", repeats=2)
    assert len(times) == 3 and all(t > 0 for t in times)
    assert len(logdet_times([100, 1000], structure="triangular", repeats=2)) == 2


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="structure"):
        logdet_times([4], structure="banded")
    with pytest.raises(ValueError, match="positive"):
        logdet_times([0])
    with pytest.raises(ValueError, match="repeats"):
        time_call(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="clock"):
        time_call(lambda: None, clock="gpu")
    with pytest.raises(ValueError, match="threads"), threads(0):
        pass
