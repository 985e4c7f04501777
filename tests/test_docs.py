"""Docs execute: docstring examples as doctests, and the quickstart notebook end to end."""

import doctest
import importlib
import importlib.util
import pkgutil
import re
from pathlib import Path

import pytest

import bridge
import case_studies
import probes
from helpers import timeout

ROOT = Path(__file__).resolve().parents[1]


def _modules_with_examples():
    """Modules of the three packages whose source holds a doctest example (the others have nothing to run)."""
    for package in (bridge, probes, case_studies):
        names = [package.__name__] + [info.name for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")]
        for name in names:
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin and ">>>" in Path(spec.origin).read_text():
                yield name


@pytest.mark.parametrize("name", sorted(set(_modules_with_examples())))
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, extraglobs={"torch": importlib.import_module("torch"), "np": importlib.import_module("numpy")})
    assert result.failed == 0, f"{result.failed} doctest failures in {name}"


def _text_outputs(cell) -> list[str]:
    """What a notebook cell printed and returned, as text (figures by their text form), each number written ``#``
    and each run of blanks as one: the measured digits depend on the CPU's float rounding, the layout does not."""
    if cell.cell_type != "code":
        return []
    texts = [o.text if o.output_type == "stream" else o["data"]["text/plain"] for o in cell.outputs if (o.output_type == "stream" and o.name == "stdout") or "text/plain" in o.get("data", {})]
    return [" ".join(re.sub(r"[+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?", "#", t).split()) for t in texts]


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    stored = [_text_outputs(c) for c in nbformat.read(ROOT / "docs" / "quickstart.ipynb", as_version=4).cells]
    for _ in range(2):  # "restart and run all" in the same folder works: each run trains into a fresh directory
        nb = nbformat.read(ROOT / "docs" / "quickstart.ipynb", as_version=4)
        nbclient.NotebookClient(nb, timeout=int(timeout(300)), kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
        assert [_text_outputs(c) for c in nb.cells] == stored  # the page shows what the cells print now, up to digits (regenerate with make_quickstart.py)
        outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
        assert not [o for o in outputs if o.output_type == "error"], [o for o in outputs if o.output_type == "error"]
        verdicts = [o["data"]["text/plain"] for o in outputs if o.get("data", {}).get("text/plain", "") in ("'pass'", "'partial'", "'fail'", "'invalid'")]
        assert verdicts == ["'pass'"], verdicts  # the notebook's deep-linear run, which passes on seed 0
        assert any("image/png" in o.get("data", {}) for o in outputs)
    assert len(list(tmp_path.glob("quickstart-*/deep-linear/run.json"))) == 2


def test_quickstart_notebook_is_in_sync_with_its_source():
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("make_quickstart", ROOT / "docs" / "make_quickstart.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    on_disk = nbformat.read(ROOT / "docs" / "quickstart.ipynb", as_version=4)
    assert [c.source for c in on_disk.cells] == [c.source for c in maker.build().cells]
    (table,) = [c for c in on_disk.cells if c.cell_type == "code" and "strength.iloc" in c.source]
    shown = table.outputs[0]["data"]["text/plain"].splitlines()[2:]  # the rows under the two header lines
    assert len(shown) >= 4, shown  # the mode strengths at several checkpoints, over their rise


def test_the_tracker_examples_in_concepts_train_and_analyse(tmp_path):
    import re
    import subprocess
    import sys

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "concepts.md").read_text(), re.S)
    assert len(blocks) >= 2
    check = f"""
from bridge import RunConfig, ScheduleConfig, TrainConfig, analyze, load_run, train
from bridge.models import DeepLinearConfig
from bridge.tasks import LinearTeacherConfig
cfg = RunConfig(task=LinearTeacherConfig((2.0, 1.0), d_in=3, d_out=3), model=DeepLinearConfig(3, 8, 3, init_std=0.1),
                train=TrainConfig(optimizer="gd", lr=0.1, steps=50, schedule=ScheduleConfig(n_log=5, every=10)), seed=0)
run = train(cfg, {str(tmp_path / "run")!r}, trackers=[ParamNormTracker(), TopSingularValueTracker()], progress=False)
assert len(run.observable("params/norm", group="weights.0")) == len(run.steps)
analyze(run, [TopSingularValueTracker()], progress=False)
top = load_run(run.path).observable("map/top_singular")
assert list(top.index) == run.steps and abs(top.iloc[-1] - 2.0) < 1e-3, top
"""
    done = subprocess.run([sys.executable, "-c", "\n".join(blocks) + check], capture_output=True, text=True, timeout=timeout(120))
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_documentation_site_builds_strictly(tmp_path):
    """`mkdocs build --strict`: a broken API reference, link or page fails here."""
    import subprocess
    import sys

    pytest.importorskip("mkdocs", reason="the 'docs' extra is not installed")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True, env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "runs" / "index.html").read_text().count("load_run") > 0


def test_the_plots_page_draws_a_case_studys_stored_report_and_events(tmp_path):
    """The example on the plots page, on a deep-linear quick run written here."""
    import re

    from case_studies import run_case_study

    run_case_study("deep-linear", "quick", tmp_path / "dl", device="cpu", progress=False)
    (block,) = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api" / "plots.md").read_text(), re.S)
    scope: dict = {}
    exec(block.replace('"runs/deep-linear"', repr(str(tmp_path / "dl"))), scope)
    ax = scope["ax"]
    events = [e for e in scope["run"].events if e.get("type") == "event"]
    assert len(ax.lines) == 1 + len(events) > 1 and len(ax.patches) == sum(e.get("type") == "stage" for e in scope["run"].events)


def _broken_tables(text: str) -> list[str]:
    """Table rows of a markdown page that would not render as a table: a row glued to the paragraph above
    (Markdown reads it as text), a header without its separator row, a row with another number of cells."""
    import re

    def cells(line: str) -> int:
        return len(re.split(r"(?<!\\)\|", line.strip().strip("|")))

    broken, fenced, previous, table = [], False, "", []
    for n, line in enumerate([*text.splitlines(), ""], 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            if not table and previous.strip():
                broken.append(f"line {n}: a table row right after text")
            table.append((n, line))
        elif table:
            if len(table) < 2 or not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1][1].strip()):
                broken.append(f"line {table[0][0]}: a table without its separator row")
            broken += [f"line {m}: {cells(row)} cells, the header has {cells(table[0][1])}" for m, row in table if cells(row) != cells(table[0][1])]
            table = []
        previous = "" if fenced else line
    return broken


@pytest.mark.parametrize("page", sorted(str(p.relative_to(ROOT)) for p in [ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")]))
def test_every_table_of_a_page_renders_as_a_table(page):
    assert _broken_tables((ROOT / page).read_text()) == []
    assert _broken_tables("text\n| a | b |\n|---|---|\n| 1 |\n") == ["line 2: a table row right after text", "line 4: 1 cells, the header has 2"]


def _resolves(dotted: str) -> bool:
    """Whether ``dotted`` names a module of the project or an attribute reached from one."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def test_every_dotted_name_a_page_quotes_exists():
    """A name such as `bridge.training.schedule.resume_points` in a page's code spans is importable as written."""
    import re

    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    quoted = {(page.relative_to(ROOT).as_posix(), m) for page in pages for m in re.findall(r"`((?:bridge|probes|case_studies)(?:\.\w+)+)", page.read_text())}
    assert len(quoted) > 40
    assert [f"{page}: {name}" for page, name in sorted(quoted) if not _resolves(name)] == []
    subpackages = {info.name.rsplit(".", 1)[-1] for package in (bridge, probes, case_studies) for info in pkgutil.walk_packages(package.__path__)}
    unrooted = {(page.relative_to(ROOT).as_posix(), m) for page in pages for m in re.findall(r"`([a-z_]\w*(?:\.[a-z_]\w*){2,})", page.read_text()) if m.split(".")[0] in subpackages}
    assert sorted(unrooted) == []  # a module path written without its package (`trackers.base.x` for `bridge.trackers.base.x`)
    assert _resolves("bridge.trackers.base.model_output") and not _resolves("trackers.base.model_output") and not _resolves("bridge.trackers.base.no_such_name")
