"""The "write a case study" page runs as written: a study defined in a module of the working directory is
run, judged over seeds, beyond its preset and over a grid from the command line, and read back in Python;
the numbers the page quotes are the ones its run produces."""

import json
import re
import shlex

import pytest

from helpers import ROOT, page_blocks, run_cli, run_python

PAGE = "writing-a-case-study.md"


def test_the_page_is_in_the_site_navigation():
    assert PAGE in (ROOT / "mkdocs.yml").read_text()


def test_the_command_line_imports_a_plugin_module_from_the_working_directory(tmp_path):
    (tmp_path / "my_plugin.py").write_text("print('my_plugin imported')\n")
    done = run_cli(["--import", "my_plugin", "list"], tmp_path, 60)
    assert done.stdout.startswith("my_plugin imported")


def _quoted(text: str, what: str) -> list[float]:
    """The three numbers the page gives after ``what`` ("... are 22.8, 31.2 and 58.5")."""
    (numbers,) = re.findall(rf"{what} ([\d.]+), ([\d.]+) and ([\d.]+)", " ".join(text.split()))
    return [float(x) for x in numbers]


@pytest.mark.slow
def test_the_write_a_case_study_page_runs_and_quotes_its_numbers(tmp_path):
    text = (ROOT / "docs" / PAGE).read_text()
    python, bash = page_blocks(PAGE), page_blocks(PAGE, "bash")
    run_python(python[0], 60, cwd=tmp_path)
    printed = []
    for line in (line for block in bash for line in block.strip().splitlines()):
        argv = shlex.split(line)
        assert argv[0] == "mechbridge", line
        printed.append(run_cli(argv[1:], tmp_path, 120).stdout)  # `--import` finds my_study.py in tmp_path itself
    printed += [run_python(block, 120, cwd=tmp_path).stdout for block in python[1:]]
    listed = [line.split() for line in printed[0].splitlines() if "teacher-modes" in line]
    assert listed == [["teacher-modes", "Saxe's", "mode", "timing", *listed[0][4:]]] and listed[0][-1] == "teacher.", printed[0]
    assert printed[-1].startswith("pass [('mode 0 (s = 3)'"), printed[-1]

    report = json.loads((tmp_path / "runs/teacher-modes/report.json").read_text())
    assert report["verdict"] == "pass" and report["preset"] == "quick" and report["seed"] == 0
    matches = report["matches"]
    assert [m["prediction"] for m in matches] == ["mode 0 (s = 3)", "mode 1 (s = 2)", "mode 2 (s = 1)"]
    assert all(m["relative_error"] <= 0.15 for m in matches)
    for key, what in (("predicted_step", "predicted half-rise steps are"), ("observed_step", "the observed ones")):
        assert [m[key] for m in matches] == pytest.approx(_quoted(text, what), abs=0.051)
    assert [m["relative_error"] for m in matches] == pytest.approx(_quoted(text, r"relative errors"), abs=0.0011)
    aligned = [c for c in report["checks"] if "align before" in c["name"]]
    assert len(aligned) == 3 and all(c["passed"] for c in aligned)
    turns = [float(c["value"].split(" < ")[0]) for c in aligned]
    assert turns == pytest.approx(_quoted(text, "half-way aligned by steps"), abs=0.051)
    assert (tmp_path / "runs/teacher-modes/figures/modes.png").read_bytes()[:4] == b"\x89PNG"

    seeds = json.loads((tmp_path / "runs/teacher-modes-seeds/seed_report.json").read_text())
    assert seeds["verdict"] == "pass" and seeds["verdicts"] == {"0": "pass", "1": "pass", "2": "pass"}, seeds["verdicts"]
    robust = json.loads((tmp_path / "runs/teacher-modes-robust/robustness.json").read_text())
    assert len(robust["runs"]) == 6 and robust["pass_fraction"] == 1.0
    sweep = (tmp_path / "runs/teacher-modes-sweep/results.csv").read_text().splitlines()
    assert len(sweep) == 3 and all(",done," in row and row.endswith(",pass,") for row in sweep[1:]), sweep
