"""The test suite's own setup: its xdist scheduler, and pytest without pytest-xdist."""

import os
import shutil
import subprocess
import sys

from helpers import ROOT, timeout

SHARED = '''import os, pytest
@pytest.fixture(scope="module")
def quick_run(request):
    with open(os.environ["SETUPS"], "a") as f:
        f.write(f"{os.path.basename(request.module.__file__)[:-3]} {os.getpid()}\\n")
    return 1
'''


def _pytest(args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout(60), env=env)


def test_a_module_whose_tests_share_a_quick_run_goes_to_one_worker_whole(tmp_path):
    (tmp_path / "tests" / "case_studies").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    tests = "".join(f"def test_uses_it_{i}(quick_run):\n    pass\n\ndef test_other_{i}():\n    pass\n\n" for i in range(6))
    (tmp_path / "tests" / "case_studies" / "test_kernel_limit.py").write_text(SHARED + tests)  # a name the scheduler groups
    # one it does not; its tests take a while, so the worker that finishes the grouped module first (at once) takes
    # some of them: spread by test, not by module (instant tests could all go to whichever worker was free first)
    slow = "import time\n" + "".join(f"def test_uses_it_{i}(quick_run):\n    time.sleep(0.25)\n\ndef test_other_{i}():\n    time.sleep(0.25)\n\n" for i in range(6))
    (tmp_path / "tests" / "case_studies" / "test_elsewhere.py").write_text(SHARED + slow)
    (tmp_path / "tests" / "test_filler.py").write_text("".join(f"def test_{i}():\n    pass\n" for i in range(20)))
    setups = tmp_path / "setups.log"
    done = _pytest(["-n", "2", "-vv", "tests/case_studies", "tests/test_filler.py"], tmp_path, env={**os.environ, "SETUPS": str(setups)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    counts = {}
    for module in ("test_kernel_limit", "test_elsewhere"):
        workers = {line.split("]")[0] for line in done.stdout.splitlines() if f"{module}.py::" in line and line.startswith("[gw")}
        counts[module] = (sum(line.split()[0] == module for line in setups.read_text().splitlines()), len(workers))
    assert counts["test_kernel_limit"] == (1, 1)  # computed once, on one worker
    assert counts["test_elsewhere"][1] == 2  # the others spread over both workers (and so set up on each)


def test_pytest_without_xdist_runs_the_suite_s_tests():
    done = _pytest(["-p", "no:xdist", "tests/bridge/test_schedule.py"], ROOT)
    assert done.returncode == 0 and "passed" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]



def test_a_passing_test_s_tmp_path_goes_when_it_ends_and_a_failing_one_s_stays(tmp_path):
    """Case-study runs write gigabytes: under the project's settings the suite keeps only what failing tests wrote."""
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    writes = "def test_passes(tmp_path):\n    (tmp_path / 'run').write_bytes(b'x')\n\ndef test_fails(tmp_path):\n    (tmp_path / 'run').write_bytes(b'x')\n    assert False\n"
    (tmp_path / "tests" / "test_writes.py").write_text(writes)
    base = tmp_path / "base"
    done = _pytest(["-p", "no:xdist", f"--basetemp={base}", "tests/test_writes.py"], tmp_path)
    assert done.returncode == 1 and "1 failed, 1 passed" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    assert sorted(p.name for p in base.iterdir() if not p.is_symlink()) == ["test_fails0"]

DRAWS = '''import os
from hypothesis import given, settings, strategies as st

@settings(max_examples=200)
@given(st.floats(allow_nan=False), st.integers())
def test_draws(x, n):
    with open(os.environ["DRAWS"], "a") as f:
        f.write(f"{x!r} {n}\\n")
'''


def test_a_property_test_draws_the_same_examples_whatever_loaded_before_it(tmp_path):
    """Hypothesis mixes in constants of the modules loaded so far; the project's are all loaded before any test runs."""
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "tests" / "conftest.py")
    (tmp_path / "tests" / "test_draws.py").write_text(DRAWS)
    (tmp_path / "tests" / "test_a_first.py").write_text("def test_loads_a_module():\n    import bridge.theory.quanta\n    import case_studies.kernel_limit\n")
    draws = []
    for args in (["tests/test_draws.py"], ["tests/test_a_first.py", "tests/test_draws.py"]):
        env = {**os.environ, "DRAWS": str(tmp_path / f"draws_{len(draws)}.txt")}
        result = _pytest(["-p", "no:randomly", *args], tmp_path, env)
        assert result.returncode == 0, result.stdout + result.stderr
        draws.append((tmp_path / f"draws_{len(draws)}.txt").read_text().splitlines())
    assert len(draws[0]) == 200 and draws[0] == draws[1]
