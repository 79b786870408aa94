"""Run the offline experiments of a chapter and write their result files.

    python scripts/run_experiments.py ch06                        # every ch06 experiment
    python scripts/run_experiments.py ch06 ch06_classifiers --seeds 0 1 2 3 4 --jobs 2
    python scripts/run_experiments.py ch06 --device cuda
    python scripts/run_experiments.py ch06 --check                # which results are stale

Each experiment (`nodelib.course.experiments.<name>`) runs once per seed; the seeds of all
chosen experiments share ``--jobs`` worker processes (each with ``--threads`` PyTorch threads,
default 1 on the CPU, so that results do not depend on the machine's core count). An
experiment that reads another's results (its ``USES``) runs after it. The results go to
``nodelib/course/experiments/results/<name>.json`` (with the fingerprint of the code and
settings, per-seed results and wall times, the machine and the package versions); with
``--set key=value`` (other settings than the shipped ones) they must go elsewhere
(``--out DIR``, where experiments also read the results of those they use), since they
are not the results the chapter states. Seeds already in a results
file with the same fingerprint are kept when others are added, and each seed's result is
written as soon as it is done (an interrupted run keeps the seeds it finished).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's nodelib, even when another one is installed

from nodelib.course import experiments  # noqa: E402
from nodelib.course.experiments import _registry, _results  # noqa: E402


def _parse_settings(pairs: list[str], defaults: dict) -> dict | None:
    """``key=value`` pairs (values read as JSON, else as strings) over `defaults`."""
    if not pairs:
        return None
    chosen = dict(defaults)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in defaults:
            raise SystemExit(f"--set {pair!r}: use key=value with a key of {sorted(defaults)}")
        try:
            chosen[key] = json.loads(value)
        except json.JSONDecodeError:
            chosen[key] = value
    return chosen


def _check(chosen: list[str]) -> int:
    """Print each experiment's state (fresh, stale, missing); 1 if any is not fresh."""
    bad = 0
    for name in chosen:
        try:
            results = experiments.load(name, strict=False)
        except FileNotFoundError:
            print(f"{name}: missing")
            bad += 1
            continue
        state = "STALE" if results.stale else "fresh"
        bad += results.stale
        cost = sum(results.seconds.values())
        cpu = [m["cpu_seconds"] for m in results.machine.values() if "cpu_seconds" in m]
        cpu_text = f", {sum(cpu):.0f} s of CPU" if cpu else ""
        where = sorted(
            {
                f"{m.get('gpu', m.get('cpu'))}, {m.get('torch_threads')} threads"
                for m in results.machine.values()
            }
        )
        where_text = "; ".join(where)
        print(f"{name}: {state}, seeds {results.seeds}, {cost:.0f} s of wall time{cpu_text} "
              f"({where_text})")  # fmt: skip
    return int(bool(bad))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapter", help="the chapter, e.g. ch06 or 6")
    parser.add_argument("names", nargs="*", help="experiments (default: all of the chapter)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, mps")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (processes)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="PyTorch threads per process (default 1 on the CPU)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a setting (needs --out)",
    )
    parser.add_argument("--out", type=Path, help="write here instead of the shipped results")
    parser.add_argument("--check", action="store_true", help="only report stale results")
    parser.add_argument("--progress", action="store_true", help="progress bars (with --jobs 1)")
    args = parser.parse_args(argv)

    available = _registry.names(args.chapter)
    chosen = args.names or available
    unknown = [n for n in chosen if n not in available]
    if unknown or not chosen:
        parser.error(f"unknown experiments {unknown}; {args.chapter} has {available}")
    if args.check:
        return _check(chosen)
    settings = {n: _parse_settings(args.overrides, experiments.get(n).SETTINGS) for n in chosen}
    if args.overrides and args.out is None:
        parser.error("--set gives other settings than the shipped ones: write them with --out")
    if args.out is not None:  # the workers read upstream results from there too
        os.environ[_results.DIR_VARIABLE] = str(args.out.resolve())
    threads = args.threads if args.threads is not None else (1 if args.device == "cpu" else None)
    context = multiprocessing.get_context("spawn")  # no forked OpenMP or CUDA state
    with ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=context) as pool:
        for stage in _registry.ordered(chosen):
            start = time.perf_counter()
            # The code that runs is the code of now: an edit during the run is refused below.
            before = {name: _registry.fingerprint(name, settings[name]) for name in stage}
            futures = {
                pool.submit(_results.run_seed, name, seed, settings[name], args.device,
                            threads, args.progress and args.jobs == 1): (name, seed)
                for name in stage for seed in args.seeds
            }  # fmt: skip
            done: dict[str, dict] = {name: {} for name in stage}
            for future in as_completed(futures):  # each seed is saved as soon as it is done
                name, seed = futures[future]
                done[name][seed] = future.result()
                results = _results.assemble(name, settings[name], done[name])
                if results.fingerprint != before[name]:
                    raise SystemExit(f"{name}: its code changed during the run; run it again")
                _merge_kept_seeds(results, args.out)
                path = experiments.save(results, args.out)
                print(f"{name}: seed {seed} took {done[name][seed][1]:.0f} s; wrote {path}",
                      flush=True)  # fmt: skip
            print(f"stage {stage}: {time.perf_counter() - start:.0f} s of wall time")
    return 0


def _merge_kept_seeds(results: experiments.Results, out: Path | None) -> None:
    """Keep the seeds of an existing file made by the same code and settings."""
    try:
        old = experiments.load(results.name, strict=False, directory=out, any_settings=True)
    except FileNotFoundError:
        return
    if old.fingerprint != results.fingerprint:
        return
    for seed in old.seeds:
        if seed not in results.per_seed:
            results.per_seed[seed] = old.per_seed[seed]
            results.seconds[seed] = old.seconds[seed]
            results.machine[seed] = old.machine[seed]
            prefix = f"seed{seed}_"
            labels = [k[len(prefix) :] for k in old.checkpoint_hashes if k.startswith(prefix)]
            results.checkpoints[seed] = {label: old.checkpoint(seed, label) for label in labels}


if __name__ == "__main__":
    sys.exit(main())
