"""A run or output directory the command line refuses from the file system and ``run.json`` alone is refused at
once: one line, exit 2, and neither torch, pandas nor TransformerLens imported (each costs seconds to import)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from bridge import load_run
from bridge.runs.errors import CorruptFileError, RunError
from helpers import timeout

SOURCE = str(Path(bridge.__file__).parents[1])  # the checkout under test, ahead of any installed copy
HEAVY = ("torch", "pandas", "transformer_lens")
RUN_APP = f"import sys\nfrom bridge.cli.app import main\ncode = main(sys.argv[1:])\nprint(*[m for m in {HEAVY} if m in sys.modules])\nsys.exit(code)\n"


def cli(cwd: Path, *args: str) -> tuple[int, str, list[str]]:
    """Exit code, stderr, and the heavy modules imported by the time ``mechbridge ARGS`` returned."""
    env = {"PYTHONPATH": SOURCE, "OMP_NUM_THREADS": "1", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", RUN_APP, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout(60))
    return done.returncode, done.stderr, done.stdout.split()


NOT_JSON = "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
NOT_A_RECORD = "is not a run record (an object whose 'files' is a table)"


def make(tmp_path: Path, kind: str) -> str:
    """A folder of damage ``kind`` in ``tmp_path``, named after it (relative: the messages name it so)."""
    folder = tmp_path / kind
    if kind == "file":
        folder.write_text("not a folder")
    elif kind != "missing":
        folder.mkdir()
    contents = {"not-json": "{nope", "list": "[1, 2]", "files-int": json.dumps({"status": "complete", "files": 3}), "files-null": json.dumps({"files": None})}
    if kind in contents:
        (folder / "run.json").write_text(contents[kind])
    if kind == "run.json-folder":
        (folder / "run.json").mkdir()
    if kind == "runs-inside":
        (folder / "seed_0").mkdir()
        (folder / "seed_0" / "run.json").write_text("{}")
    return kind


MESSAGES = {
    "missing": "run directory missing does not exist",
    "file": "file is a file, not a run directory",
    "empty": "empty is not a run directory (no run.json)",
    "not-json": f"not-json/run.json is not valid JSON ({NOT_JSON})",
    "list": f"list/run.json {NOT_A_RECORD}",
    "files-int": f"files-int/run.json {NOT_A_RECORD}",
    "files-null": f"files-null/run.json {NOT_A_RECORD}",
    "run.json-folder": "run.json-folder/run.json is a directory, not a JSON file",
}


@pytest.mark.parametrize("kind", list(MESSAGES))
@pytest.mark.parametrize("command", [["analyze"], ["report"], ["report", "--rebuild"]], ids=["analyze", "report", "report-rebuild"])
def test_a_run_directory_refused_by_its_files_is_refused_before_torch_is_imported(tmp_path, command, kind):
    code, err, heavy = cli(tmp_path, command[0], make(tmp_path, kind), *command[1:])
    assert (code, err, heavy) == (2, f"mechbridge: error: {MESSAGES[kind]}\n", [])


@pytest.mark.parametrize("kind", [k for k in MESSAGES if k != "missing"])
def test_load_run_refuses_each_folder_in_the_words_of_the_command_line(tmp_path, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    make(tmp_path, kind)
    with pytest.raises((RunError, CorruptFileError)) as error:
        load_run(kind)
    assert str(error.value) == MESSAGES[kind]


def test_report_of_a_folder_holding_runs_names_them_before_torch_is_imported(tmp_path):
    code, err, heavy = cli(tmp_path, "report", make(tmp_path, "runs-inside"))
    assert code == 2 and heavy == []
    assert err == "mechbridge: error: runs-inside is not a run directory (no run.json) but holds run directories (seed_0): `mechbridge report runs-inside/seed_0` prints one's report\n"


def test_sweep_status_names_a_sweep_json_that_is_not_json_by_its_path_once(tmp_path):
    (tmp_path / "sw").mkdir()
    (tmp_path / "sw" / "sweep.json").write_text("{nope")
    code, err, heavy = cli(tmp_path, "sweep", "--status", "sw")
    assert (code, err, heavy) == (2, f"mechbridge: error: sw/sweep.json is not valid JSON ({NOT_JSON})\n", [])


NOT_EMPTY = "already exists and is not empty; choose another --out or pass --resume (from Python: another out, or resume=True)"
OUTPUTS = {  # (command, --out kind, --resume) -> the message; each refused from the file system, before the study's module
    ("run", "file", False): "--out file is a file, not a directory",
    ("run", "not-json", False): f"not-json {NOT_EMPTY}",
    ("run", "not-json", True): MESSAGES["not-json"],
    ("run", "list", True): MESSAGES["list"],
    ("run", "run.json-folder", True): MESSAGES["run.json-folder"],
    ("budget", "file", False): "--out file is a file, not a directory",
    ("budget", "not-json", True): MESSAGES["not-json"],
    ("seeds", "file", False): "--out file is a file, not a directory",
    ("seeds", "list", False): f"list {NOT_EMPTY}",
    ("robustness", "file", False): "--out file is a file, not a directory",
    ("robustness", "list", False): f"list {NOT_EMPTY}",
    ("robustness", "list", True): "list holds files that are not part of a robustness output (run.json); choose another --out",
    ("sweep", "file", False): "sweep directory file is a file",
    ("sweep", "list", False): "list exists and is not a sweep directory; choose another --out",
}
COMMANDS = {"run": ["run", "deep-linear"], "budget": ["run", "deep-linear", "--budget", "2000"], "seeds": ["run", "deep-linear", "--seeds", "0-1"],
            "robustness": ["robustness", "deep-linear"], "sweep": ["sweep", "deep-linear", "--seeds", "0-1"]}


@pytest.mark.parametrize(("command", "kind", "resume"), list(OUTPUTS), ids=["-".join(map(str, k)) for k in OUTPUTS])
def test_an_out_refused_by_the_file_system_is_refused_before_torch_is_imported(tmp_path, command, kind, resume):
    code, err, heavy = cli(tmp_path, *COMMANDS[command], "--out", make(tmp_path, kind), *(["--resume"] if resume else []))
    assert (code, err, heavy) == (2, f"mechbridge: error: {OUTPUTS[command, kind, resume]}\n", [])


def test_the_default_out_of_a_run_done_before_is_refused_before_torch_is_imported(tmp_path):
    (tmp_path / "runs" / "deep-linear-quick-seed3").mkdir(parents=True)
    (tmp_path / "runs" / "deep-linear-quick-seed3" / "run.json").write_text("{}")
    code, err, heavy = cli(tmp_path, "run", "deep-linear", "--seed", "3")
    assert (code, err, heavy) == (2, f"mechbridge: error: runs/deep-linear-quick-seed3 {NOT_EMPTY}\n", [])


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unknown_case_study_is_named_before_a_bad_out(tmp_path, command):
    code, err, heavy = cli(tmp_path, COMMANDS[command][0], "no-such-study", *COMMANDS[command][2:], "--out", make(tmp_path, "file"))
    assert code == 2 and heavy == []
    assert err.startswith("mechbridge: error: unknown case study 'no-such-study' (known: deep-linear, ") and err.count("\n") == 1


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_out_is_named_before_an_unknown_preset_which_needs_the_study_module(tmp_path, command):
    code, err, heavy = cli(tmp_path, *COMMANDS[command], "--preset", "huge", "--out", make(tmp_path, "file"))
    assert (code, err, heavy) == (2, f"mechbridge: error: {'sweep directory file is a file' if command == 'sweep' else '--out file is a file, not a directory'}\n", [])


@pytest.mark.parametrize("command", ["run", "seeds", "robustness"])  # the commands that check the preset themselves (seconds each: torch)
def test_an_unknown_preset_with_a_good_out_is_still_named(tmp_path, command):
    code, err, heavy = cli(tmp_path, *COMMANDS[command], "--preset", "huge", "--out", "new")
    assert (code, err) == (2, "mechbridge: error: case study 'deep-linear' has no preset 'huge' (presets: quick, full)\n")
    assert not (tmp_path / "new").exists()
