"""Run torchdiffeq's own test suite against `nodelib.torchdiffeq` and count the checks per file.

torchdiffeq's tests (the `tests/` directory of https://github.com/rtqichen/torchdiffeq) import
`torchdiffeq`. This script writes, in a temporary directory, a package named `torchdiffeq` whose
only content re-exports `nodelib.torchdiffeq`, puts it first on the path, and runs each test file
in its own process with unittest. Nothing of torchdiffeq is copied into this repository: pass the
path of a checkout of its tests.

A *check* is one `subTest`, or one test function without subtests; a test function that also
asserts outside its subtests (torchdiffeq's `test_adjoint_norm` checks a user's norm there), or
that fails outside them, counts one check more. With torchdiffeq's master (657943a) that makes
1217 checks in api, event, gradient, norm and odeint tests.

    python benchmarks/torchdiffeq_suite.py /tmp/tdq/tests                 # every file
    python benchmarks/torchdiffeq_suite.py /tmp/tdq/tests -f api_tests.py -v
    python benchmarks/torchdiffeq_suite.py /tmp/tdq/tests --against /tmp/tdq   # torchdiffeq itself
    python benchmarks/torchdiffeq_suite.py /tmp/tdq/tests --json suite.json

`-v` lists every failed check with its error; `--against DIR` runs the suite against the
torchdiffeq package in DIR instead (the baseline). Each file runs with one thread
(OMP_NUM_THREADS=1) unless `--threads` says otherwise.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FILES = ("api_tests.py", "event_tests.py", "gradient_tests.py", "norm_tests.py", "odeint_tests.py")
SHIM = (
    '"""Only a re-export: torchdiffeq is nodelib.torchdiffeq (benchmarks/torchdiffeq_suite)."""\n'
    "from nodelib.torchdiffeq import *  # noqa: F403\n"
    "from nodelib.torchdiffeq import __all__  # noqa: F401\n"
)


def _child(test_file: str, out: str, expect: str) -> None:
    """Run one test file with unittest in this process; write its checks to `out` as JSON."""
    import traceback
    import unittest

    import torchdiffeq

    where = str(Path(torchdiffeq.__file__).resolve())
    if not where.startswith(expect):
        raise SystemExit(f"torchdiffeq resolved to {where}, not under {expect}")
    outside: set[str] = set()

    def watch(name):
        original = getattr(unittest.TestCase, name)

        def wrapped(self, *args, **kwargs):
            if getattr(self, "_subtest", None) is None:
                outside.add(self.id())
            return original(self, *args, **kwargs)

        return wrapped

    for name in dir(unittest.TestCase):
        if name.startswith("assert") and not name.startswith("assert_"):
            setattr(unittest.TestCase, name, watch(name))

    checks: list[dict] = []
    has_subtests: set[str] = set()

    def brief(err) -> str:
        lines = traceback.format_exception_only(err[0], err[1])
        return "".join(lines).strip().splitlines()[-1][:200]

    class Counter(unittest.TestResult):
        def addSubTest(self, test, subtest, err):
            has_subtests.add(test.id())
            params = subtest._subDescription()
            checks.append({"test": test.id(), "sub": params, "ok": err is None,
                           "error": None if err is None else brief(err)})  # fmt: skip
            super().addSubTest(test, subtest, err)

        def addSuccess(self, test):
            if test.id() not in has_subtests or test.id() in outside:
                checks.append({"test": test.id(), "sub": "", "ok": True, "error": None})

        def _failed(self, test, err):
            checks.append({"test": test.id(), "sub": "", "ok": False, "error": brief(err)})

        def addFailure(self, test, err):
            self._failed(test, err)

        def addError(self, test, err):
            self._failed(test, err)

    module = Path(test_file).stem
    suite = unittest.defaultTestLoader.loadTestsFromName(module)
    # A parent whose subtests failed is reported neither as success nor failure: count its
    # outside assertions as passed when no error came from outside the subtests.
    result = Counter()
    suite.run(result)
    seen = {(c["test"], c["sub"]) for c in checks}
    for test_id in sorted(outside & has_subtests):
        if (test_id, "") not in seen:
            checks.append({"test": test_id, "sub": "", "ok": True, "error": None})
    Path(out).write_text(json.dumps({"file": test_file, "torchdiffeq": where, "checks": checks}))


def _run_file(tests: Path, name: str, package_dir: Path, threads: int, log: Path) -> dict:
    out = log.with_suffix(".json")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join(
        [str(package_dir), str(tests), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    expect = str((package_dir / "torchdiffeq").resolve())
    cmd = [sys.executable, __file__, "--child", name, "--out", str(out), "--expect", expect]
    start = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, cwd=tests, env=env, stdout=fh, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"{name} did not run (exit {proc.returncode}); log tail:\n{tail}")
    data = json.loads(out.read_text())
    data["seconds"] = seconds
    return data


def _report(results: list[dict], verbose: bool) -> None:
    print(f"\n{'file':<20} {'passed':>7} / {'total':<6} {'seconds':>8}")
    total_pass = total = 0
    for r in results:
        ok = sum(c["ok"] for c in r["checks"])
        n = len(r["checks"])
        total_pass, total = total_pass + ok, total + n
        print(f"{r['file']:<20} {ok:>7} / {n:<6} {r['seconds']:>8.1f}")
    print(f"{'total':<20} {total_pass:>7} / {total:<6}")
    causes = collections.Counter()
    for r in results:
        for c in r["checks"]:
            if not c["ok"]:
                causes[(r["file"], c["test"].split(".")[-1], c["error"])] += 1
    if causes:
        print("\nfailed checks by file, test and error:")
        for (file, test, error), count in causes.most_common():
            print(f"  {count:4d}  {file} {test}: {error}")
    if verbose:
        print("\nevery failed check:")
        for r in results:
            for c in r["checks"]:
                if not c["ok"]:
                    print(f"  {c['test']} {c['sub']}\n      {c['error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tests", nargs="?", type=Path, help="torchdiffeq's tests/ directory")
    parser.add_argument("-f", "--files", nargs="+", default=list(FILES))
    parser.add_argument("--against", type=Path, help="a directory holding a torchdiffeq package")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, help="write every check to this file")
    parser.add_argument("--logs", type=Path, help="keep each file's output in this directory")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--expect", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.out, args.expect)
        return
    if args.tests is None or not (args.tests / "problems.py").exists():
        parser.error("give the path of torchdiffeq's tests/ directory (it holds problems.py)")
    tests = args.tests.resolve()
    with tempfile.TemporaryDirectory(prefix="tdq-shim-") as tmp:
        if args.against is None:
            package_dir = Path(tmp) / "shim"
            (package_dir / "torchdiffeq").mkdir(parents=True)
            (package_dir / "torchdiffeq" / "__init__.py").write_text(SHIM)
        else:
            package_dir = args.against.resolve()
        logs = args.logs or Path(tmp)
        logs.mkdir(parents=True, exist_ok=True)
        print(f"torchdiffeq = {package_dir / 'torchdiffeq'}; tests from {tests}", flush=True)
        results = []
        for name in args.files:
            print(f"running {name} ...", flush=True)
            results.append(_run_file(tests, name, package_dir, args.threads, logs / name))
    _report(results, args.verbose)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
