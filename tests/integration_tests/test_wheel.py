"""The built wheel installs into a clean virtual environment and runs the quickstart there.

``python -m build --wheel`` builds from this checkout (hatchling is fetched into the isolated
build environment from the package index). The wheel goes into a fresh venv with ``--no-deps``;
the dependencies are reused from the project venv through a ``.pth`` path entry (appended after
the new venv's own site-packages, and without processing the project venv's ``.pth`` files, so
the editable install of this checkout stays invisible). The quickstart then runs from a
directory outside the checkout and must import the package from the new venv.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("build") is None, reason="'build' not installed: pip install build"
    ),
]


def _run(
    cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> str:
    proc = subprocess.run(  # noqa: S603 - fixed commands built by this test
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def test_wheel_installs_and_runs_the_quickstart(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], cwd=tmp_path)
    wheels = list(dist.glob("langchain_ctxorch-*.whl"))
    assert len(wheels) == 1, wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "langchain_ctxorch/py.typed" in names
    assert "langchain_ctxorch/orchestrator.py" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/"))]

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            cwd=tmp_path,
        ).strip()
    )
    (site / "_project_deps.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            str(wheels[0]),
        ],
        cwd=tmp_path,
    )

    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()
    shutil.copy(ROOT / "examples" / "quickstart.py", run_dir / "quickstart.py")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CTXORCH_MODEL")}
    where = _run(
        [str(python), "-c", "import langchain_ctxorch as m; print(m.__file__, m.__version__)"],
        cwd=run_dir,
        env=env,
    )
    assert where.startswith(str(site)), where
    out = _run([str(python), "quickstart.py"], cwd=run_dir, env=env)
    assert "Context window:" in out
    assert "included" in out
    script = env_dir / "bin" / "ctxorch"
    assert script.exists()
    demo = _run([str(script), "demo"], cwd=run_dir, env=env)
    assert "quarantined" in demo
    assert "--- the window the model sees ---" in demo
