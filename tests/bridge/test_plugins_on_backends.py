"""A plugin named by `mechbridge --import` (a module in the working directory) is imported by a backend's
workers too: a plugin case study's sweep points and runs train there, not in the driver after a failure."""

import subprocess
import sys

import pytest

from helpers import page_blocks, run_cli, timeout

ON_SUBMITIT = ["--backend", "submitit", "--cluster", "local", "--workers", "1"]


@pytest.fixture(scope="module")
def here(tmp_path_factory):
    """A directory holding the plugin module of the case-study page (``my_study.py``, case study ``teacher-modes``)."""
    here = tmp_path_factory.mktemp("plugin")
    subprocess.run([sys.executable, "-c", page_blocks("writing-a-case-study.md")[0]], cwd=here, check=True, timeout=timeout(60))
    return here


def _cli(here, *args):
    return run_cli(["--import", "my_study", *args], here, 300)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["submitit", "ray"])
def test_a_sweep_of_a_plugin_case_study_trains_on_the_workers(here, backend):
    pytest.importorskip(backend)
    options = ON_SUBMITIT if backend == "submitit" else ["--backend", "ray", "--workers", "1"]
    _cli(here, "sweep", "teacher-modes", "--grid", "train.lr=0.025,0.1", "--seeds", "0", *options, "--out", f"sweep-{backend}")
    rows = (here / f"sweep-{backend}" / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",done,," in row and row.endswith(",pass,") for row in rows[1:]), rows


@pytest.mark.slow
def test_the_runs_of_a_plugin_case_study_train_on_the_workers(here):
    pytest.importorskip("submitit")
    done = _cli(here, "run", "teacher-modes", *ON_SUBMITIT, "--out", "run")
    assert "resuming it in this process" not in done.stderr, done.stderr[-2000:]  # the worker trained it
    assert "teacher-modes [quick, seed 0]: pass" in done.stdout
    assert (here / "run" / "runs" / ".submitit").is_dir()
