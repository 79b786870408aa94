"""Run one test of a reader's code under a time limit, and report what happened.

A test calls the reader's function, which may loop forever, raise, or print. `run_limited`
runs it so that the caller (a notebook's kernel, or the command line) always gets control
back, and turns the result into an `Outcome` that holds only strings and plain values.

Three ways to run it ("backends"), picked by `choose_backend`:

- ``"fork"`` (Linux, CPU only, CUDA not initialised in this process): the test runs in a
  forked child process, which sees every function of the notebook without pickling; on
  timeout the child is killed with SIGKILL, so even an endless loop inside a C extension
  is stopped. The child uses one torch thread (a forked OpenMP pool must not be reused),
  its prints are captured, and only the `Outcome` is sent back through a pipe.
- ``"signal"`` (Unix, main thread; used for CUDA, which cannot be used again in a forked
  child, and on macOS, where forking a process with system frameworks loaded is unsafe): the
  test runs in this process and SIGALRM raises `_TimeUp` in it when time is up. That stops
  Python code (every endless loop a reader is likely to write); a single C call that never
  returns is only stopped when it returns.
- ``"thread"`` (anywhere else, e.g. Windows): the test runs in a daemon thread. A thread
  cannot be killed: on timeout the check returns and says so, but the function keeps
  running in the background until the kernel is restarted.

Tracebacks of the reader's exceptions are formatted without the grader's own frames, so
the reader sees where *their* code failed.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import select
import signal
import sys
import sysconfig
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

__all__ = ["BACKENDS", "Outcome", "choose_backend", "format_user_traceback", "run_limited"]

Backend = Literal["fork", "signal", "thread"]
BACKENDS: tuple[str, ...] = ("fork", "signal", "thread")
_GRADER_DIR = str(Path(__file__).resolve().parent)
# Code that is not the reader's: nodelib itself, the standard library, installed packages.
_LIBRARY_DIRS = tuple(
    {str(Path(__file__).resolve().parents[2])}  # nodelib/ (this file: nodelib/course/grading/)
    | {str(Path(p).resolve()) for k, p in sysconfig.get_paths().items() if "lib" in k}
)
_MAX_OUTPUT = 4000  # characters of captured output kept


@dataclass
class Outcome:
    """What happened when a test ran.

    Attributes:
        status: "ok" (returned), "raised" (an exception), "timeout" (stopped, or could not
            be stopped: see `stopped`), "crashed" (the worker process died).
        value: what the test returned (status "ok").
        exc_type: the exception's class name (status "raised").
        exc_message: str(exception).
        traceback: the formatted traceback without the grader's frames.
        failed_check: True when the exception is the grader's `CheckFailed` (a failed test,
            not an error in the reader's code).
        output: what the test printed (fork backend only), truncated.
        stopped: False when a timed-out function is still running (thread backend).
        internal: the exception came from the grader or nodelib, with no frame of the
            reader's code on the stack: a bug of the grader, not of the reader.
        origin: the name of the function that raised (the innermost frame).
    """

    status: Literal["ok", "raised", "timeout", "crashed"]
    value: Any = None
    exc_type: str = ""
    exc_message: str = ""
    traceback: str = ""
    failed_check: bool = False
    output: str = ""
    stopped: bool = True
    internal: bool = False
    origin: str = ""


class _TimeUp(BaseException):
    """Raised by SIGALRM in the signal backend; a BaseException so `except Exception` in the
    reader's code cannot swallow it."""


def _is_grader_frame(frame: traceback.FrameSummary) -> bool:
    return frame.filename.startswith(_GRADER_DIR)


def _is_reader_frame(frame: traceback.FrameSummary) -> bool:
    """A frame of the reader's code: not nodelib's, not the standard library's or a package's."""
    return not frame.filename.startswith(_LIBRARY_DIRS)


def format_user_traceback(exc: BaseException) -> str:
    """The stack of exc's traceback from the reader's first frame on.

    The grader's calling frames are dropped, and any frame of nodelib.course.grading further down
    (a callback the grader passed in); frames of nodelib or torch that the reader's code
    called are kept. Only the frames are formatted (the caller states the exception), and
    chained exceptions are left out.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    first = next((i for i, f in enumerate(frames) if _is_reader_frame(f)), 0)
    kept = [f for f in frames[first:] if not _is_grader_frame(f)]
    if not kept:
        return ""
    return "Traceback (most recent call last):\n" + "".join(
        traceback.StackSummary.from_list(kept).format()
    )


def _call(fn: Callable[[], Any]) -> Outcome:
    """Run fn, turning an Exception into an Outcome (BaseExceptions propagate)."""
    from nodelib.course.grading.core import CheckFailed

    try:
        return Outcome("ok", value=fn())
    except Exception as exc:
        failed = isinstance(exc, CheckFailed)
        frames = traceback.extract_tb(exc.__traceback__)
        return Outcome(
            "raised",
            exc_type=type(exc).__name__,
            exc_message=str(exc),
            traceback="" if failed else format_user_traceback(exc),
            failed_check=failed,
            internal=not failed and not any(_is_reader_frame(f) for f in frames),
            origin=frames[-1].name if frames else "",
        )


def choose_backend(device: torch.device | str = "cpu") -> Backend:
    """The safest backend for a test on `device` in this process (see the module docstring)."""
    cuda = torch.device(device).type == "cuda" or torch.cuda.is_initialized()
    if sys.platform.startswith("linux") and hasattr(os, "fork") and not cuda:
        return "fork"
    if hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread():
        return "signal"
    return "thread"


def run_limited(fn: Callable[[], Any], timeout: float, *, backend: str = "auto") -> Outcome:
    """Run fn() with a time limit of `timeout` seconds and report the `Outcome`.

    Args:
        fn: the test, no arguments; its return value must be picklable (fork backend).
        timeout: seconds, > 0.
        backend: "auto" (`choose_backend` for the CPU), "fork", "signal" or "thread".

    Returns:
        The Outcome. KeyboardInterrupt (the reader pressing stop) propagates.

    Raises:
        ValueError: timeout <= 0 or an unknown backend.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds; got {timeout!r}.")
    if backend == "auto":
        backend = choose_backend()
    if backend == "fork":
        return _run_fork(fn, timeout)
    if backend == "signal":
        return _run_signal(fn, timeout)
    if backend == "thread":
        return _run_thread(fn, timeout)
    raise ValueError(f"backend must be 'auto' or one of {BACKENDS}; got {backend!r}.")


def _child(fn: Callable[[], Any], write_fd: int) -> None:
    """The forked worker: run fn with output captured, send the pickled Outcome, exit."""
    status = 1
    try:
        torch.set_num_threads(1)
        buffer = io.StringIO()
        sys.stdout = sys.stderr = buffer
        outcome = _call(fn)
        outcome.output = buffer.getvalue()[-_MAX_OUTPUT:]
        try:
            data = pickle.dumps(outcome)
        except Exception as exc:  # an unpicklable return value
            data = pickle.dumps(
                Outcome("raised", exc_type=type(exc).__name__, exc_message=str(exc))
            )
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
        status = 0
    finally:
        os._exit(status)  # never run the parent's atexit handlers or flush its buffers


_warmed_up = False


def _warm_up() -> None:
    """Initialise, once and in this process, what torch initialises lazily on first use.

    A forked child starts from the parent's memory, so work done here is not repeated in
    every child: the first torch.func.jacrev alone takes about a second.
    """
    global _warmed_up
    if not _warmed_up:
        x = torch.ones(2, dtype=torch.float64)
        torch.linalg.solve(torch.func.jacrev(lambda z: z * z)(x), x)
        _warmed_up = True


def _run_fork(fn: Callable[[], Any], timeout: float) -> Outcome:
    _warm_up()
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() in a multi-threaded process (a Jupyter kernel
        # is one); the child only runs the test and never touches the kernel's threads.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(fn, write_fd)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    finished = False
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([read_fd], [], [], remaining)
            if ready:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:  # EOF: the child exited
                    finished = True
                    break
                chunks.append(chunk)
    finally:
        os.close(read_fd)
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, wait_status = os.waitpid(pid, 0)
    if not finished:
        return Outcome("timeout")
    if not chunks:
        code = os.waitstatus_to_exitcode(wait_status)
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        return Outcome("crashed", exc_message=f"the worker process died ({how})")
    return pickle.loads(b"".join(chunks))


def _run_signal(fn: Callable[[], Any], timeout: float) -> Outcome:
    def _alarm(signum: int, frame: object) -> None:
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, _alarm)
    outer_delay, _ = signal.getitimer(signal.ITIMER_REAL)
    start = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return _call(fn)
    except _TimeUp:
        return Outcome("timeout")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_delay > 0:  # give an enclosing alarm (e.g. a test's deadline) its rest back
            signal.setitimer(
                signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - start), 1e-3)
            )


def _run_thread(fn: Callable[[], Any], timeout: float) -> Outcome:
    box: list[Outcome] = []
    worker = threading.Thread(target=lambda: box.append(_call(fn)), daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive() or not box:
        return Outcome("timeout", stopped=False)
    return box[0]
