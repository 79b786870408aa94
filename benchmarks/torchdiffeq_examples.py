"""Run torchdiffeq's examples, unmodified, against `nodelib.torchdiffeq` (or torchdiffeq itself).

The examples (the `examples/` directory of https://github.com/rtqichen/torchdiffeq) import
`torchdiffeq`; as in `torchdiffeq_suite.py`, a package of that name that only re-exports
`nodelib.torchdiffeq` is put first on the path. Each run uses seed 0 (torch, numpy, random),
one thread, small iteration counts, and a fresh temporary working directory (the examples
write figures and checkpoints there); the script prints each run's exit status, wall time
and last lines of output. Nothing of torchdiffeq is copied into this repository.

    python benchmarks/torchdiffeq_examples.py /tmp/tdq/examples
    python benchmarks/torchdiffeq_examples.py /tmp/tdq/examples --against /tmp/tdq
    python benchmarks/torchdiffeq_examples.py /tmp/tdq/examples -k cnf

The wall times are of a shared machine: they say whether a run finished, not how fast.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from torchdiffeq_suite import SHIM

CASES = [
    ("ode_demo", "ode_demo.py", ["--niters", "100"]),
    ("ode_demo --adjoint", "ode_demo.py", ["--niters", "100", "--adjoint"]),
    ("bouncing_ball 3", "bouncing_ball.py", ["3"]),
    ("latent_ode", "latent_ode.py", ["--niters", "20"]),
    ("latent_ode --adjoint", "latent_ode.py", ["--niters", "20", "--adjoint", "True"]),
    ("cnf", "cnf.py", ["--niters", "20", "--num_samples", "128"]),
    ("cnf --adjoint", "cnf.py", ["--niters", "20", "--num_samples", "128", "--adjoint"]),
    ("cnf --viz", "cnf.py", ["--niters", "2", "--num_samples", "64", "--viz"]),
    ("learn_physics", "learn_physics.py", ["--num_iterations", "20"]),
    ("learn_physics --no_events", "learn_physics.py", ["--num_iterations", "3", "--no_events"]),
]

RUNNER = """
import random, runpy, sys
import numpy, torch
random.seed(0); numpy.random.seed(0); torch.manual_seed(0); torch.set_num_threads(1)
import torchdiffeq
print("torchdiffeq =", torchdiffeq.__file__, flush=True)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _run(examples: Path, package_dir: Path, script: str, args: list[str], tail: int) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    env["PYTHONWARNINGS"] = "ignore"  # the examples' own warnings would hide their output
    env["PYTHONPATH"] = os.pathsep.join(
        [str(package_dir), str(examples), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    with tempfile.TemporaryDirectory(prefix="tdq-example-") as work:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", RUNNER, str(examples / script), *args],
            cwd=work, env=env, capture_output=True, text=True,
        )  # fmt: skip
        seconds = time.perf_counter() - start
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    print(f"  exit {proc.returncode}, {seconds:.1f} s")
    for line in lines[:1] + lines[-tail:]:
        print(f"    {line[:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", type=Path, help="torchdiffeq's examples/ directory")
    parser.add_argument("--against", type=Path, help="a directory holding a torchdiffeq package")
    parser.add_argument("-k", help="run only the cases whose name contains this")
    parser.add_argument("--tail", type=int, default=3, help="lines of output to show")
    args = parser.parse_args()
    examples = args.examples.resolve()
    with tempfile.TemporaryDirectory(prefix="tdq-shim-") as tmp:
        package_dir = args.against.resolve() if args.against else Path(tmp)
        if not args.against:
            (package_dir / "torchdiffeq").mkdir()
            (package_dir / "torchdiffeq" / "__init__.py").write_text(SHIM)
        for name, script, script_args in CASES:
            if args.k and args.k not in name:
                continue
            print(f"{name}: {script} {' '.join(script_args)}", flush=True)
            _run(examples, package_dir, script, script_args, args.tail)


if __name__ == "__main__":
    main()
