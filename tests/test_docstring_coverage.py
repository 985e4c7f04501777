"""Every public top-level function and class of bridge/, probes/ and case_studies/ shows a short example: its
docstring holds a ``>>>`` line (run by tests/test_docs.py; one that needs a long-trained run is marked
``# doctest: +SKIP``)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bridge", "probes", "case_studies")


def without_example(source: str) -> list[str]:
    """Names of the public top-level functions and classes of ``source`` whose docstring has no ``>>>`` line."""
    tree = ast.parse(source)
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and not node.name.startswith("_") and ">>>" not in (ast.get_docstring(node) or "")
    ]


def test_the_check_names_what_lacks_an_example_and_nothing_else():
    source = '''
def shown():
    """Has one.

    Examples:
        >>> 1
        1
    """

def bare():
    """No example."""

async def waits():
    pass

class Thing:
    """Words only; its method's example does not count."""

    def size(self):
        """>>> Thing().size()"""

def _private():
    """No example, not public."""
'''
    assert without_example(source) == ["bare", "waits", "Thing"]
    assert without_example("class Shape:\n    def area(self):\n        '''>>> 1'''\n") == ["Shape"]


def test_every_public_function_and_class_has_an_example():
    files = sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))
    assert len(files) > 100
    missing = [f"{path.relative_to(ROOT).as_posix()}: {name}" for path in files for name in without_example(path.read_text())]
    assert missing == [], f"{len(missing)} public functions or classes without a '>>>' example:\n" + "\n".join(missing)
