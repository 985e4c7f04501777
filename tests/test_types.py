"""The packages' annotations hold and help: mypy, configured in pyproject.toml ([tool.mypy]), finds nothing in them,
nor in the code the README and the docs pages give a researcher to run; it infers the precise types of the public
API (never ``Any``) and flags the mistakes a researcher typically makes with it.

bridge, probes and case_studies ship ``py.typed``, so a researcher's own type checker reads our annotations
when it checks a notebook or a script that calls them; an annotation that is wrong there is an error in their code,
and so is a page's example that uses a value the annotations say may be ``None``. tests/type_checks/api_types.py is
researcher code whose every value is pinned with ``typing.assert_type``; tests/type_checks/api_mistakes.py holds
mistakes, each line marked with the error code mypy must report there (``# E: arg-type``). Both are only
type-checked, never imported. One mypy run checks all of it (tests/conftest.py keeps this module on one worker),
so torch's annotations are read once. mypy comes with the dev extra.
"""

import ast
import re

import pytest

from mypy_runs import PACKAGES, ROOT, mypy_errors, mypy_version

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# a page imports modules the reader writes from the page itself (my_models.py): those are not found, and are not ours;
# a reader's code need not annotate, and is checked all the same
PAGE_HEADER = '# mypy: disable-error-code="import-not-found"\n# mypy: allow-untyped-defs, allow-incomplete-defs, check-untyped-defs\n'
FOLDER = ROOT / "tests" / "type_checks"
API = ("api_types.py", "api_mistakes.py")
MARK = re.compile(r"#\s*E:\s*(?P<codes>[a-z-]+(?:\s*,\s*[a-z-]+)*)\s*$")
# the packages whose public names load on first use: a type checker reads them from their TYPE_CHECKING imports
LAZY = ["bridge/__init__.py", "bridge/runs/__init__.py", "bridge/sweep/__init__.py", "bridge/trackers/__init__.py", "probes/__init__.py", "case_studies/generality/__init__.py"]


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    """mypy's errors over the packages, the pages' code (each page's python blocks, in order, as one module;
    doctest-style blocks, run by the docs tests, left out) and the API's files, by file and line; mypy's output;
    the pages' module names."""
    folder, pages = tmp_path_factory.mktemp("pages"), []
    for page in PAGES:
        blocks = [b for b in re.findall(r"```python\n(.*?)```", page.read_text(), re.S) if not b.lstrip().startswith(">>>")]
        if blocks:
            name = page.relative_to(ROOT).with_suffix("").as_posix().replace("/", "__").replace("-", "_") + ".py"
            (folder / name).write_text(PAGE_HEADER + "\n\n".join(blocks))
            pages.append(name)
    errors, output = mypy_errors([*(folder / p for p in pages), *(FOLDER / a for a in API)])
    return errors, output, pages


def test_mypy_finds_nothing(checked):
    errors, output, _ = checked
    found = sorted(path for path in errors if path.startswith(tuple(f"{p}/" for p in PACKAGES)))
    assert not found, f"{mypy_version()} found, in {found} (the configuration is pyproject.toml's [tool.mypy]):\n{output}"


def test_the_code_of_the_readme_and_every_docs_page_type_checks(checked):
    errors, output, pages = checked
    assert len(pages) >= 15, pages  # the README, the concepts and extending pages, every case study's notebook block, ...
    found = [p for p in pages if errors.get(p)]
    assert not found, f"{mypy_version()} found, in the pages' code (file name: the page's path): {found}\n{output}"


def test_the_public_api_reads_as_its_precise_types(checked):
    errors, output, _ = checked
    assert not errors.get("api_types.py"), f"{mypy_version()} found, in api_types.py (an assert-type error: an API value is not of its pinned type):\n{output}"


def test_each_marked_mistake_gets_its_error_code_and_nothing_else_does(checked):
    errors, output, _ = checked
    expected = {}
    for number, text in enumerate((FOLDER / "api_mistakes.py").read_text().splitlines(), start=1):
        if m := MARK.search(text):
            expected[number] = sorted(c.strip() for c in m["codes"].split(","))
    assert len(expected) >= 25, expected  # the mistakes are there to be caught
    found = {line: sorted(codes) for line, codes in errors["api_mistakes.py"].items()}
    missed = {line: codes for line, codes in expected.items() if found.get(line) != codes}
    unmarked = {line: codes for line, codes in found.items() if line not in expected}
    assert not missed and not unmarked, f"lines whose errors differ from their mark (line: expected codes): {missed}\nerrors on unmarked lines: {unmarked}\n{output}"


@pytest.mark.parametrize("path", LAZY)
def test_every_lazily_loaded_name_is_imported_for_the_type_checker(path):
    """A name of ``_EXPORTS`` that is not imported under ``if TYPE_CHECKING:`` reads as ``Any`` (the module's ``__getattr__``)."""
    tree = ast.parse((ROOT / path).read_text())
    exports = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "_EXPORTS" for t in n.targets))
    blocks = [n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING"]
    imported = {(a.asname or a.name): (node.module, a.name) for block in blocks for node in block.body if isinstance(node, ast.ImportFrom) for a in node.names}
    missing = sorted(set(exports) - set(imported))
    assert not missing, f"{path}: names loaded on first use but not imported under TYPE_CHECKING: {missing}"
    # each from the module the lazy map names (bridge.sweep, the callable package, is run_sweep to a type checker)
    elsewhere = {n: imported[n] for n in exports if imported[n][0] != exports[n] and not (n, exports[n]) == ("sweep", "bridge.sweep")}
    assert not elsewhere, f"{path}: names imported under TYPE_CHECKING from another module than _EXPORTS says: {elsewhere}"
