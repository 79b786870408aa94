"""pytest settings for ``pytest --nbval solutions/`` (nbval compares the stored outputs).

The set-up cell prints the nodelib and torch versions and the device, which differ between
machines: unless ``--nbval-sanitize-with`` is given, ``nbval_sanitize.cfg`` next to this file
is used. The README's ``python -m pytest`` does not collect this folder (testpaths: tests/);
there, tests/test_grading_notebooks.py executes each solution notebook once and compares its
outputs with the same rules.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    option = config.option
    if getattr(option, "nbval", False) and getattr(option, "nbval_sanitize_with", "") is None:
        option.nbval_sanitize_with = str(Path(__file__).with_name("nbval_sanitize.cfg"))
