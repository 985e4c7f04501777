"""Test setup: one torch thread per worker (two threads on two busy cores run ~10× slower), Agg backend."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

try:  # property tests draw the same examples on every run and keep no example database in the working tree
    from hypothesis import settings as hypothesis_settings
except ImportError:  # the dev extra is not installed
    pass
else:
    hypothesis_settings.register_profile("reproducible", derandomize=True, database=None)
    hypothesis_settings.load_profile("reproducible")


PROJECT_PACKAGES = ("bridge", "probes", "case_studies", "experiments")


def pytest_collection_finish(session):
    """Hypothesis draws some examples from the constants written in the modules loaded so far (every module outside
    site-packages and the tests): with the project's modules loaded at once, a property test draws the same examples
    whichever tests ran before it on its worker."""
    if any(getattr(getattr(item, "obj", None), "is_hypothesis_test", False) for item in session.items):
        load_project_modules()


def load_project_modules() -> None:
    """Import every module of the project's packages (those importable from here)."""
    import importlib
    import importlib.util
    import pkgutil

    for name in PROJECT_PACKAGES:
        if importlib.util.find_spec(name) is None:  # experiments/ is found from the repository's root only
            continue
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, prefix=name + "."):
            try:
                importlib.import_module(info.name)
            except ImportError:  # an optional dependency missing here: that module's own tests say so
                continue


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    yield


# Modules whose tests share a module-scoped fixture of minutes (a case study's quick run, one mypy run): each goes to one
# worker as a whole, so the run is computed once; every other test is scheduled on its own, as `--dist load`.
SHARED_RUN_MODULES = frozenset(
    f"tests/case_studies/{name}.py" for name in ("test_mup_run", "test_induction_heads", "test_kernel_limit", "test_edge_of_stability")
) | {"tests/test_types.py"}  # and one mypy run over the packages, the pages and the API's files


@pytest.hookimpl(optionalhook=True)  # pytest without pytest-xdist knows no such hook
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "load":
        return None  # another --dist asked for explicitly
    from xdist.scheduler import LoadScopeScheduling

    class SharedRunScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in SHARED_RUN_MODULES else nodeid

    return SharedRunScheduling(config, log)
