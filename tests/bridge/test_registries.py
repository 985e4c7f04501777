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
    (tmp_path / "report.json").write_text(json.dumps({"verdict": "pass"}))
    (tmp_path / "report.md").write_text("# a report\n")
    code = f"from bridge.cli import main\nassert main(['report', {str(tmp_path)!r}]) == 0"
    assert not (_modules_after(code) & set(HEAVY))
