"""The command line refuses bad input on one line naming it, with exit 2, before anything runs."""

import subprocess
import sys
from pathlib import Path

import pytest

import bridge
from bridge.cli import main

SOURCE = str(Path(bridge.__file__).parents[1])  # the checkout under test, ahead of any installed copy


def cli(cwd, *args):
    env = {"PYTHONPATH": f"{cwd}:{SOURCE}", "OMP_NUM_THREADS": "1", "PATH": ""}
    proc = subprocess.run([sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, env=env, cwd=cwd)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize(
    "source,message",
    [
        ("raise RuntimeError('kaboom')\n", "cannot import plugin module 'badplugin': it raised RuntimeError: kaboom (badplugin.py, line 1)"),
        ("x = 1\ndef (:\n", "cannot import plugin module 'badplugin': SyntaxError: invalid syntax (badplugin.py, line 2)"),
        ("import sys\nsys.exit(0)\n", "cannot import plugin module 'badplugin': it called sys.exit(0)"),
        ("import sys\nsys.exit('bye')\n", "cannot import plugin module 'badplugin': it called sys.exit('bye')"),
    ],
)
def test_a_plugin_that_fails_on_import_is_one_line_naming_it_and_the_command_does_not_run(tmp_path, source, message):
    (tmp_path / "badplugin.py").write_text(source)
    code, out, err = cli(tmp_path, "--import", "badplugin", "list")
    assert code == 2 and out == ""
    assert err == f"mechbridge: error: {message}\n"


@pytest.mark.parametrize(
    "name,message",
    [
        ("", "cannot import plugin module '': its name is empty (give a module name such as mypackage.trackers)"),
        (" ", "cannot import plugin module ' ': its name is empty (give a module name such as mypackage.trackers)"),
        (".rel", "cannot import plugin module '.rel': a relative name (give the module's full name, such as mypackage.trackers)"),
    ],
)
def test_an_import_name_that_is_no_module_name_is_one_line_naming_it(tmp_path, name, message):
    code, out, err = cli(tmp_path, "--import", name, "list")
    assert code == 2 and out == ""
    assert err == f"mechbridge: error: {message}\n"


@pytest.mark.parametrize("path", ["ext/my_models.py", "./ext/my_models.py", "ext/my_models"])
def test_an_import_given_a_file_path_names_the_dotted_module_name_that_imports_it(tmp_path, path):
    """A file path suggested its path less .py ('ext/my_models'), which is no module name either (and
    ./ext/my_models.py was called a relative name); the name suggested is the one that imports."""
    (tmp_path / "ext").mkdir()
    (tmp_path / "ext" / "my_models.py").write_text("print('imported')\n")
    code, out, err = cli(tmp_path, "--import", path, "list")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"mechbridge: error: cannot import plugin module {path!r} (give the module's dotted name, 'ext.my_models', importable from the working directory or PYTHONPATH, not its file path)")
    code, out, err = cli(tmp_path, "--import", "ext.my_models", "list")  # the name suggested
    assert code == 0 and out.startswith("imported\n"), err


@pytest.mark.parametrize("command", [["report"], ["analyze"]])
@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda f: f.write_text("{nope"), "is not valid JSON (Expecting property name"),
        (lambda f: f.write_bytes(b"\xff\xfe"), "is not valid JSON ('utf-8' codec can't decode"),
        (lambda f: f.mkdir(), "is a directory, not a JSON file"),
    ],
)
def test_a_damaged_run_json_is_named_by_its_whole_path(tmp_path, capsys, command, damage, message):
    run = tmp_path / "seed-1"  # one of many folders that each hold a run.json
    run.mkdir()
    for name in ("report.md", "report.json"):
        (run / name).write_text("{}")
    damage(run / "run.json")
    assert main([*command, str(run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mechbridge: error: {run / 'run.json'} {message}") and err.count("\n") == 1
    assert sorted(p.name for p in run.iterdir()) == ["report.json", "report.md", "run.json"] and (run / "report.md").read_text() == "{}"


@pytest.mark.parametrize("command", ["run", "robustness", "sweep"])
def test_an_unknown_backend_is_named_as_the_backend_option_of_any_command(tmp_path, capsys, command):
    extra = ["--seeds", "0"] if command == "sweep" else []
    assert main([command, "deep-linear", "--backend", "dask", "--out", str(tmp_path / "out"), "--set", "train.steps=5", *extra]) == 2
    err = capsys.readouterr().err
    assert err == "mechbridge: error: unknown backend 'dask' (backends: local, ray, submitit)\n"  # not a 'sweep backend' on run
    assert not (tmp_path / "out").exists()
