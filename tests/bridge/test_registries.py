"""The explicit catalogues (config kinds, trackers, case studies) resolve to what they name, and
listing them imports no heavy dependency."""

import json
import subprocess
import sys

import pytest

from bridge.config import CONFIG_CLASSES
from bridge.registry import Registry
from bridge.trackers import TRACKERS
from case_studies import BUILT_IN, CASE_STUDIES

HEAVY = ("torch", "transformer_lens", "sklearn", "matplotlib", "scipy", "networkx", "pandas")


@pytest.mark.parametrize("kind", CONFIG_CLASSES.names())
def test_every_config_kind_resolves_to_a_class_of_that_kind(kind):
    assert CONFIG_CLASSES.get(kind).kind == kind


@pytest.mark.parametrize("name", TRACKERS.names())
def test_every_tracker_resolves_and_carries_its_name(name):
    tracker = TRACKERS.get(name)
    assert getattr(tracker, "name", None) == name or tracker.__dataclass_fields__["name"].default == name


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_every_case_study_resolves_with_presets(name):
    study = CASE_STUDIES.get(name)
    assert study.name == name and "quick" in study.presets


def test_registration_is_idempotent_for_the_same_object_and_refuses_another():
    reg = Registry("thing", {"lazy": "math:sqrt"})
    obj = object()
    assert reg.register("a")(obj) is obj
    assert reg.register("a")(obj) is obj  # a re-run notebook cell
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(object())
    import math

    assert reg.register("lazy")(math.sqrt) is math.sqrt  # the object the lazy entry names
    with pytest.raises(KeyError, match="known: a, lazy"):
        reg.get("b")


def test_a_lazy_entry_may_be_listed_again_but_not_to_another_target():
    reg = Registry("thing", {"root": "math:sqrt"})
    reg.add_lazy("root", "math:sqrt")
    with pytest.raises(ValueError, match="thing 'root' is already registered"):
        reg.add_lazy("root", "math:exp")
    reg.add_lazy("e", "math:exp")
    assert reg.get("root")(16.0) == 4.0 and reg.get("e")(0.0) == 1.0


CELL = """
from dataclasses import dataclass
from torch import nn
from bridge.config import config_class
from bridge.models import MODELS

@config_class("rerun_cell_net")
@dataclass(frozen=True)
class RerunCellConfig:
    d_in: int
    d_out: int

@MODELS.register("rerun_cell_net")
def build_rerun_cell_net(config, seed):
    return nn.Linear(config.d_in, config.d_out, bias=BIAS)
"""


def test_a_rerun_notebook_cell_replaces_its_registrations_and_another_target_is_refused():
    """The cell run twice (new class and function objects, the second building without bias) is accepted; the second wins."""
    from bridge.models import MODELS, build_model

    namespace = {"__name__": "__main__"}
    try:
        exec(CELL.replace("BIAS", "True"), namespace)
        first = namespace["RerunCellConfig"]
        exec(CELL.replace("BIAS", "False"), namespace)
        second = namespace["RerunCellConfig"]
        assert first is not second and CONFIG_CLASSES.get("rerun_cell_net") is second
        assert MODELS.get("rerun_cell_net") is namespace["build_rerun_cell_net"]
        assert sum(p.numel() for p in build_model(second(d_in=3, d_out=2), seed=0).parameters()) == 6  # 3·2 weights, no bias
        with pytest.raises(ValueError, match=r"model 'rerun_cell_net' is already registered \(to __main__:build_rerun_cell_net\)"):
            MODELS.register("rerun_cell_net")(lambda config, seed: None)  # another function under the taken name
    finally:
        MODELS._items.pop("rerun_cell_net", None)
        CONFIG_CLASSES._items.pop("rerun_cell_net", None)
    reg = Registry("thing")
    namespace = {"__name__": "__main__"}
    exec("def f(): pass", namespace)
    reg.register("f")(namespace["f"])
    other = {"__name__": "elsewhere"}
    exec("def f(): pass", other)
    with pytest.raises(ValueError, match=r"thing 'f' is already registered \(to __main__:f\)"):
        reg.register("f")(other["f"])  # the same qualified name in another module


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in json.loads(out.stdout.splitlines()[-1])}


@pytest.mark.parametrize(
    "code",
    [
        "import bridge",
        "import bridge, probes, case_studies, bridge.trackers, bridge.runs",
        "from bridge.cli import main\ntry:\n    main(['list'])\nexcept SystemExit:\n    pass",
        "from bridge.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
        "from bridge.cli import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass",
        "from bridge.cli import main\ntry:\n    main(['sweep', '--help'])\nexcept SystemExit:\n    pass",
        "import bridge\nbridge.sweep.grid_points({'train.lr': [0.1]})",
    ],
)
def test_importing_and_listing_load_no_heavy_dependency(code):
    assert not (_modules_after(code) & set(HEAVY)), code


def test_reading_a_stored_report_loads_no_heavy_dependency(tmp_path):
    from bridge.runs.checksums import record

    (tmp_path / "report.json").write_text(json.dumps({"verdict": "pass"}))
    (tmp_path / "report.md").write_text("# a report\n")
    (tmp_path / "run.json").write_text(json.dumps({"files": record(tmp_path, ["report.json", "report.md"])}))  # the record report checks
    code = f"from bridge.cli import main\nassert main(['report', {str(tmp_path)!r}]) == 0"
    assert not (_modules_after(code) & {*HEAVY, "numpy", "jaxtyping"})  # the standard library reads it


LAZY_PACKAGES = ("bridge", "bridge.runs", "bridge.sweep", "bridge.trackers", "case_studies.generality", "probes")


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_lazily_exported_name_resolves_to_what_its_module_defines(package):
    import importlib
    import inspect

    module = importlib.import_module(package)
    assert module.__all__ == sorted(module.__all__) and module.__all__, package
    for name in module.__all__:
        value = getattr(module, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert value.__name__ == name, f"{package}.{name} is {value.__name__}"
            home = importlib.import_module(value.__module__)
            assert getattr(home, name) is value, f"{package}.{name} is not {value.__module__}.{name}"
