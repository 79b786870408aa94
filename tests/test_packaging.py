"""The library a researcher installs apart from the course (issue 16).

`pip install nodelib` gets the solver core: `odeint`, `solve`, `odeint_adjoint`, events,
`nodelib.models`, `nodelib.data` and `nodelib.theory`, with torch, numpy and scipy only. The
course's machinery, `nodelib.course` (plotting, training bars, the book helpers, the grader),
needs the `course` extra: matplotlib, scikit-learn, tqdm, ipywidgets, nbformat, nbclient.

Three checks: importing and using the core loads none of the course's dependencies (in a fresh
interpreter, with them installed and with them made unimportable); no file of the core imports
one at module level (read from the source, so it also covers code no test runs); and a fresh
virtual environment with a plain `pip install .` runs the core without them (marked slow).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "nodelib"
COURSE = PACKAGE / "course"

# Top-level import names of what only the course extra installs (IPython comes with ipykernel
# and ipywidgets; nbformat and nbclient are the grader's).
COURSE_ONLY = ("matplotlib", "sklearn", "tqdm", "ipywidgets", "IPython", "nbformat", "nbclient")
# What a core module may import at module level: nodelib's own requirements and itself.
CORE_REQUIREMENTS = {"torch", "numpy", "scipy", "nodelib"}

# Uses the core as a researcher would; prints the course-only modules it loaded beyond those
# that torch itself loads (torch.hub imports tqdm when it is installed). With "missing", the
# course-only packages are made unimportable first, as in an environment without the extra.
CORE_USE = textwrap.dedent(
    """
    import json, sys

    NAMES = {names!r}
    if sys.argv[1] == "missing":
        for name in NAMES:
            sys.modules[name] = None  # `import name` now raises ImportError

    import numpy
    import torch

    def loaded():
        return {{name for name in NAMES if sys.modules.get(name) is not None}}

    baseline = loaded()

    import nodelib
    import nodelib.data
    import nodelib.ensemble
    import nodelib.theory.analysis
    import nodelib.theory.autodiff
    import nodelib.theory.lmm
    import nodelib.theory.order_conditions
    import nodelib.theory.sensitivity
    import nodelib.theory.stability
    from nodelib.models import MLPField, ODEBlock
    from nodelib.models.flows import Flow, PlanarFlow, StandardNormal, fit_density

    torch.manual_seed(0)
    t = torch.linspace(0.0, 1.0, 5, dtype=torch.float64)
    y0 = torch.ones(2, dtype=torch.float64)
    ys = nodelib.odeint(lambda t, y: -y, y0, t)
    assert abs(float(ys[-1, 0]) - 0.36787944) < 1e-3, ys
    sol = nodelib.solve(lambda t, y: -y, y0, t)
    assert sol.stats["nfe"] > 0 and torch.allclose(sol.ys, ys)

    block = ODEBlock(MLPField(2, 8), adjoint=True)  # odeint_adjoint inside
    loss = block(torch.randn(4, 2)).square().sum()
    loss.backward()
    assert all(p.grad is not None for p in block.parameters())

    w = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    out = nodelib.odeint_adjoint(lambda t, y: -w * y, y0, t, adjoint_params=(w,))
    out[-1].sum().backward()
    assert w.grad is not None

    flow = Flow(StandardNormal(2), [PlanarFlow(2)])
    sampler = lambda n, generator=None: nodelib.data.sample_2d("two_moons", n, generator=generator)
    assert len(fit_density(flow, sampler, steps=2, batch_size=16)) == 2

    print(json.dumps(sorted(loaded() - baseline)))
    """
).format(names=COURSE_ONLY)


def _run_core_use(python: str | Path, mode: str, cwd: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [str(python), "-c", CORE_USE, mode],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("mode", ["installed", "missing"])
def test_the_core_loads_no_course_dependency(mode: str) -> None:
    # A fresh interpreter: this test process has long imported matplotlib and the rest.
    assert _run_core_use(sys.executable, mode, ROOT) == []


def test_import_nodelib_lists_the_subpackages_it_loads_lazily() -> None:
    code = (
        "import sys, nodelib\n"
        "assert 'nodelib.course' not in sys.modules and 'nodelib.models' not in sys.modules\n"
        "import nodelib.course.plotting as p, nodelib.theory.lmm as lmm\n"
        "assert nodelib.course.plotting is p and nodelib.theory.lmm is lmm\n"
        "assert nodelib.models.ODEBlock and nodelib.data.sample_2d\n"
        "try:\n"
        "    nodelib.plotting\n"
        "except AttributeError as e:\n"
        "    assert 'nodelib.course.plotting' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('nodelib.plotting should not exist')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-4000:]


def _module_level_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, top-level name) of each import that runs when the module is imported.

    Imports inside functions run only when called; ``if TYPE_CHECKING:`` blocks never run.
    Class bodies, ``try``/``if`` blocks and ``with`` blocks at module level do run.
    """
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside nodelib
                found.append((node.lineno, "nodelib"))
            elif node.module != "__future__":
                found.append((node.lineno, node.module or ""))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _all_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """(line, dotted module) of every absolute import, wherever it is."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return found


CORE_FILES = sorted(p for p in PACKAGE.rglob("*.py") if COURSE not in p.parents)


def test_the_core_files_are_found() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in CORE_FILES}
    assert {"__init__.py", "odeint.py", "adjoint.py", "models/flows.py", "data/sets.py"} <= names
    assert {"theory/order_conditions.py", "theory/stability.py"} <= names
    assert not any(name.startswith("course/") for name in names)


def test_core_modules_import_only_the_core_requirements_at_module_level() -> None:
    allowed = CORE_REQUIREMENTS | set(sys.stdlib_module_names)
    wrong = []
    for path in CORE_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _module_level_imports(tree):
            top = module.split(".")[0]
            if top not in allowed or module.startswith("nodelib.course"):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: import {module}")
    assert not wrong, (
        "the solver core may import only torch, numpy, scipy, the standard library and "
        "nodelib (not nodelib.course) when it loads; import a course dependency inside the "
        "function that needs it, with an ImportError that says pip install "
        '"nodelib[course]":\n' + "\n".join(wrong)
    )


def test_the_core_never_imports_the_course_package() -> None:
    # Not even lazily: a core function that needs nodelib.course needs the course extra.
    wrong = []
    for path in CORE_FILES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in _all_imports(tree):
            if module == "nodelib.course" or module.startswith("nodelib.course."):
                wrong.append(f"{path.relative_to(ROOT)}:{line}: import {module}")
    assert not wrong, "\n".join(wrong)


def test_the_ast_check_sees_an_import_at_module_level() -> None:
    # The check above must catch `import matplotlib` added to a core module, under a `try` or
    # a class body as well, and leave function bodies and TYPE_CHECKING blocks alone.
    source = textwrap.dedent(
        """
        from __future__ import annotations
        from typing import TYPE_CHECKING
        import torch
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            pass
        class A:
            from tqdm.auto import tqdm
        if TYPE_CHECKING:
            import sklearn
        def f():
            import ipywidgets
        """
    )
    names = [m for _, m in _module_level_imports(ast.parse(source))]
    assert names == ["typing", "torch", "matplotlib.pyplot", "tqdm.auto"]


def test_pyproject_keeps_the_course_dependencies_in_the_course_extra() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {r.split(";")[0].split("[")[0].split("=")[0].split(">")[0].split("<")[0].strip()
                for r in requirements}  # fmt: skip

    assert names(project["dependencies"]) == {"torch", "numpy", "scipy"}
    course = names(project["optional-dependencies"]["course"])
    assert {"matplotlib", "scikit-learn", "tqdm", "ipywidgets", "nbformat", "nbclient"} <= course
    assert project["scripts"]["nodelib-grade"] == "nodelib.course.grading.__main__:main"
    requirements = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    assert "-e .[course]" in requirements


@pytest.mark.slow
def test_a_plain_pip_install_runs_the_core_without_the_course_dependencies(
    tmp_path: Path,
) -> None:
    """`pip install .` into a new virtual environment, no extras (about 40 s here).

    torch is pinned to 2.13.0 by a constraints file, the release this machine's pip finds as a
    local CPU wheel (an unpinned torch would be a CUDA build of several GB). The project is
    copied first, so that the build writes nothing into the repository.
    """
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / "nodelib", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "constraints.txt").write_text("torch==2.13.0\n", encoding="utf-8")
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-compile", str(source), "--constraint", str(tmp_path / "constraints.txt")],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    print(f"venv and pip install . took {time.perf_counter() - start:.0f} s")

    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    installed = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout)}
    assert installed["torch"].startswith("2.13.0"), installed["torch"]
    for name in ("matplotlib", "scikit-learn", "tqdm", "ipywidgets", "ipython", "nbclient"):
        assert name not in installed, f"a plain install pulled {name}"

    # Run from tmp_path, so that the installed copy is imported, not the repository's.
    assert _run_core_use(python, "installed", tmp_path) == []
    check = textwrap.dedent(
        """
        import importlib.util, nodelib
        assert "site-packages" in nodelib.__file__, nodelib.__file__
        assert importlib.util.find_spec("nodelib.course.plotting") is not None  # shipped
        try:
            nodelib.data.load_digits()
        except ImportError as err:
            assert 'pip install "nodelib[course]"' in str(err), err
        else:
            raise AssertionError("load_digits ran without scikit-learn")
        try:
            import nodelib.course.plotting
        except ImportError:
            pass
        else:
            raise AssertionError("matplotlib is installed")
        """
    )
    result = subprocess.run(
        [str(python), "-c", check], capture_output=True, text=True, timeout=120, check=False,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
