"""Reading the answers of an experiment: a dict of measurements, numbers and choices.

An experiment question (C1.8, C2.9, ...) grades one dict of the reader's notebook: what the
experiment measured, and the answers to its questions. Each answer is a number, a choice
among stated alternatives (a letter), or a short function. These helpers read the dict and
raise `CheckFailed` with a message for the reader when an entry is missing or of the wrong
kind. Every value is turned into a plain Python object before the grader compares it (a
number into a float, a choice into a str, a list into a list of floats): an object that
overrides its comparisons cannot pass a check by lying about itself.

- `answer_dict`: the dict itself, with the keys the question needs.
- `number`, `numbers`: a finite number, a list of them.
- `choice`: a letter among the stated alternatives.
- `expect_choice`: a choice checked against the right one, a wrong one explained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nodelib.course.grading.core import CheckFailed

__all__ = ["answer_dict", "choice", "expect_choice", "number", "numbers"]


def answer_dict(value: Any, name: str, keys: Sequence[str]) -> dict[str, Any]:
    """The reader's dict, checked to be a plain dict holding every key of `keys`.

    Raises:
        CheckFailed: not a dict, or a key is missing (the message lists the keys).
    """
    if type(value) is not dict:
        raise CheckFailed(
            f"{name} should be a dict of measurements and answers, {{'key': value, ...}}, "
            f"not a {type(value).__name__}."
        )
    missing = [key for key in keys if key not in value]
    if missing:
        listed = ", ".join(repr(key) for key in keys)
        raise CheckFailed(f"{name} has no entry {missing[0]!r}; it needs the keys {listed}.")
    return value


def number(value: Any, what: str) -> float:
    """A finite plain number (int, float, a NumPy scalar or a one-element tensor) as a float.

    Raises:
        CheckFailed: anything else (a bool, a string, a list, nan or inf).
    """
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise CheckFailed(
                f"{what} should be one number, not a tensor of shape {tuple(value.shape)}."
            )
        value = torch.Tensor.item(value)  # the base class's item: a subclass cannot lie
    elif isinstance(value, np.generic):
        value = value.item()
    if type(value) not in (int, float):
        raise CheckFailed(f"{what} should be a number, not a {type(value).__name__}.")
    result = float(value)
    if not math.isfinite(result):
        raise CheckFailed(f"{what} is {result}: it should be a finite number.")
    return result


def numbers(value: Any, what: str, length: int | None = None) -> list[float]:
    """A list (or tuple, 1-D tensor or array) of finite numbers, as a list of floats.

    Raises:
        CheckFailed: not a sequence of numbers, or not of the given length.
    """
    if isinstance(value, Tensor | np.ndarray):
        if value.ndim != 1:
            raise CheckFailed(f"{what} should be a list of numbers, not of shape {value.shape}.")
        value = list(value)
    if type(value) not in (list, tuple):
        raise CheckFailed(f"{what} should be a list of numbers, not a {type(value).__name__}.")
    if length is not None and len(value) != length:
        raise CheckFailed(
            f"{what} should hold {length} numbers, one per run; it holds {len(value)}."
        )
    return [number(v, f"each entry of {what}") for v in value]


def choice(value: Any, what: str, options: Sequence[str]) -> str:
    """A letter among `options` ("a", "b", ...), written "b", "B" or "(b)", as "b".

    Raises:
        CheckFailed: not a string, or not one of the options.
    """
    if type(value) is not str:
        raise CheckFailed(
            f"{what} should be the letter of one alternative, a str such as 'a', not a "
            f"{type(value).__name__}."
        )
    letter = value.strip().strip("()").strip().lower()
    if letter not in options:
        listed = ", ".join(repr(o) for o in options)
        raise CheckFailed(f"{what} is {value!r}; answer with one of the letters {listed}.")
    return letter


def expect_choice(
    value: Any, what: str, correct: str, wrong: Mapping[str, str], *, note: str = ""
) -> str:
    """Check a choice: the right letter passes, a wrong one fails with its explanation.

    Args:
        value: the reader's answer.
        what: how to name it in messages.
        correct: the right letter.
        wrong: every wrong letter -> why it is wrong (what the measurements show instead).
        note: returned when the answer is right, for the report.

    Returns:
        `note`, or "answer (x)".

    Raises:
        CheckFailed: a wrong or malformed answer.
    """
    letter = choice(value, what, sorted([correct, *wrong]))
    if letter != correct:
        raise CheckFailed(f"{what}: ({letter}) is not right. {wrong[letter]}")
    return note or f"answer ({letter})"
