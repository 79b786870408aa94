#!/usr/bin/env bash
# The GPU checks of the course in one short run: the tests marked `gpu`, then a CUDA timing of
# the solver, CNF and ODE-Net benchmarks. Run it from the repository root on a machine with
# CUDA and PyTorch (Colab, or the device tool of the developers' workplace):
#     bash benchmarks/gpu_checks.sh [OUTDIR]
# Results go to OUTDIR (default: _build/gpu_checks). Nothing here runs in CI (no GPU there).
set -uo pipefail
out="${1:-_build/gpu_checks}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py="${PYTHON:-python3}"
"$py" -c "import torch; print('torch', torch.__version__, '|', torch.cuda.get_device_name(0))"
# The test files that hold `gpu` tests (the others may need packages a GPU image lacks).
files=$(grep -l "mark.gpu" tests/test_*.py)
timeout "${TEST_TIMEOUT:-240}" "$py" -m pytest -m gpu -q -p no:cacheprovider --continue-on-collection-errors $files 2>&1 | tee "$out/gpu_tests.log" | tail -25
timeout "${BENCH_TIMEOUT:-60}" "$py" benchmarks/solver_benchmark.py --device cuda --quick --json "$out/solver_cuda.json" 2>&1 | tail -8
timeout "${BENCH_TIMEOUT:-60}" "$py" benchmarks/cnf_benchmark.py --device cuda --quick --json "$out/cnf_cuda.json" 2>&1 | tail -16
timeout "${BENCH_TIMEOUT:-60}" "$py" benchmarks/odenet_benchmark.py --device cuda --quick --sizes 28 2>&1 | tail -8
