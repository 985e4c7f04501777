"""The command line refuses bad input on one line naming it, with exit 2, before anything runs."""

import subprocess
import sys
from pathlib import Path

import pytest

import bridge

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
