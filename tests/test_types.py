"""The packages' annotations hold: mypy, configured in pyproject.toml ([tool.mypy]), finds nothing in them, nor in
the code the README and the docs pages give a researcher to run.

bridge, probes and case_studies ship ``py.typed``, so a researcher's own type checker reads our annotations
when it checks a notebook or a script that calls them; an annotation that is wrong there is an error in their code,
and so is a page's example that uses a value the annotations say may be ``None``. mypy comes with the dev extra.
"""

import re

from mypy_runs import ROOT, mypy, mypy_files, mypy_version

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# a page imports modules the reader writes from the page itself (my_models.py): those are not found, and are not ours
PAGE_HEADER = '# mypy: disable-error-code="import-not-found"\n'


def test_mypy_finds_nothing():
    done = mypy()
    assert done.returncode == 0, f"{mypy_version()} found (the configuration is pyproject.toml's [tool.mypy]):\n{done.stdout}{done.stderr}"


def test_the_code_of_the_readme_and_every_docs_page_type_checks(tmp_path):
    """Each page's python blocks, in order, as one module (doctest-style blocks, run by the docs tests, are left out)."""
    written = []
    for page in PAGES:
        blocks = [b for b in re.findall(r"```python\n(.*?)```", page.read_text(), re.S) if not b.lstrip().startswith(">>>")]
        if blocks:
            name = page.relative_to(ROOT).with_suffix("").as_posix().replace("/", "__").replace("-", "_")
            (tmp_path / f"{name}.py").write_text(PAGE_HEADER + "\n\n".join(blocks))
            written.append(f"{name}.py")
    assert len(written) >= 15, written  # the README, the concepts and extending pages, every case study's notebook block, ...
    reader = ("--allow-untyped-defs", "--allow-incomplete-defs", "--check-untyped-defs")  # a reader's code need not annotate, and is checked all the same
    done = mypy_files(*(tmp_path / w for w in written), cache="pages", options=reader)  # its own cache: the test above may write the default one at the same time
    assert done.returncode == 0, f"{mypy_version()} found, in the pages' code (file name: the page's path):\n{done.stdout}{done.stderr}"
