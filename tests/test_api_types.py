"""The annotations help a researcher: mypy infers the precise types of the public API (never ``Any``), and flags the
mistakes a researcher typically makes with it.

tests/type_checks/api_types.py is researcher code whose every value is pinned with ``typing.assert_type``;
tests/type_checks/api_mistakes.py holds mistakes, each line marked with the error code mypy must report there
(``# E: arg-type``). Both are only type-checked, never imported.
"""

import ast
import re
from collections import defaultdict

import pytest

from mypy_runs import ROOT, mypy_files, mypy_version

FOLDER = ROOT / "tests" / "type_checks"
# path:line: error: message  [code]
ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*?)\s+\[(?P<code>[a-z-]+)\]$")
MARK = re.compile(r"#\s*E:\s*(?P<codes>[a-z-]+(?:\s*,\s*[a-z-]+)*)\s*$")
# the packages whose public names load on first use: a type checker reads them from their TYPE_CHECKING imports
LAZY = ["bridge/__init__.py", "bridge/runs/__init__.py", "bridge/sweep/__init__.py", "bridge/trackers/__init__.py", "probes/__init__.py", "case_studies/generality/__init__.py"]


@pytest.fixture(scope="module")
def checked():
    """mypy's errors over both files, by file name and line: one run (the cache is shared, the packages read once)."""
    done = mypy_files(FOLDER / "api_types.py", FOLDER / "api_mistakes.py", cache="api_types")
    errors: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for line in done.stdout.splitlines():
        if m := ERROR.match(line):
            errors[m["path"].replace("\\", "/").rsplit("/", 1)[-1]][int(m["line"])].append(m["code"])
    if done.returncode not in (0, 1) or done.stderr.strip():  # 2: mypy itself failed (a crash, a bad option)
        pytest.fail(f"{mypy_version()} did not run:\n{done.stdout}{done.stderr}")
    return errors, done.stdout


def test_the_public_api_reads_as_its_precise_types(checked):
    errors, output = checked
    assert not errors["api_types.py"], f"{mypy_version()} found, in api_types.py (an assert-type error: an API value is not of its pinned type):\n{output}"


def test_each_marked_mistake_gets_its_error_code_and_nothing_else_does(checked):
    errors, output = checked
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
