"""Where and with what an experiment ran: the machine and the package versions."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch


def machine_info(device: torch.device) -> dict[str, Any]:
    """The CPU (or GPU) model, the threads PyTorch uses and the operating system."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            models = [ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")]
        cpu = models[0] if models else cpu
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "device": str(device), "system": platform.platform()}  # fmt: skip
    if hasattr(os, "getloadavg"):  # how busy the machine was (1-minute load average)
        info["load_average"] = round(os.getloadavg()[0], 2)
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def package_versions() -> dict[str, Any]:
    """Python, torch, numpy, scipy and nodelib versions, and the git commit if known."""
    import numpy
    import scipy

    import nodelib

    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "numpy": numpy.__version__, "scipy": scipy.__version__,
                "nodelib": nodelib.__version__}  # fmt: skip
    root = Path(nodelib.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "nodelib"],
            check=True,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        versions["nodelib_commit"] = commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        versions["nodelib_commit"] = None
    return versions
