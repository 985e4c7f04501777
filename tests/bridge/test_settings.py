"""Settings a researcher changes: --set by dotted path, --steps, plugins, progress lines, config types."""

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.cli import main
from bridge.config import ConfigError, RunConfig, ScheduleConfig, TrainConfig, config_from_dict, config_to_dict
from bridge.overrides import apply, parse
from bridge.progress import PlainProgress
from case_studies.deep_linear import PRESETS
from helpers import WEIGHT_COUNT_PLUGIN


def test_override_reaches_nested_fields_and_leaves_the_original_alone():
    quick = PRESETS["quick"]
    changed = apply(quick, ["train.lr=0.02", "model.d_hidden=64", "targets.tolerance=0.1", "train.schedule.n_log=7"])
    assert (changed.train.lr, changed.model.d_hidden, changed.targets.tolerance, changed.train.schedule.n_log) == (0.02, 64, 0.1, 7)
    assert quick == PRESETS["quick"] and quick.train.lr == 0.05


def test_settings_that_are_valid_only_together_apply_in_any_order_and_the_last_of_a_key_wins():
    from case_studies.kernel_limit import PRESETS as KERNEL_LIMIT

    quick = KERNEL_LIMIT["quick"]
    for order in (["model.parametrisation=mup", "model.base_width=64"], ["model.base_width=64", "model.parametrisation=mup"]):
        changed = apply(quick, [*order, "model.widths=[128,128]"])
        assert (changed.model.parametrisation, changed.model.base_width, changed.model.widths) == ("mup", 64, (128, 128))
    with pytest.raises(ConfigError, match="base_width is required"):  # each config is still checked, once, with all its changes
        apply(quick, ["model.parametrisation=mup"])
    assert apply(quick, ["train.lr=0.1", "train.steps=7", "train.lr=0.3"]).train.lr == 0.3
    with pytest.raises(ConfigError, match="both 'train' and 'train.lr' are set"):
        apply(quick, ["train=x", "train.lr=0.1"])
    with pytest.raises(ConfigError, match="both 'train.lr' and settings inside it are set"):
        apply(quick, ["train.lr.x=1", "train.lr=0.1"])
    with pytest.raises(ConfigError, match="unknown setting 'train.lr.x': train.lr has no fields"):
        apply(quick, ["train.lr.x=1"])


@pytest.mark.parametrize(
    "setting,message",
    [
        ("train.nope=1", "unknown setting 'train.nope': train has optimizer, lr"),
        ("nope=1", "the preset has task, model, train, targets"),
        ("train.lr=fast", "train.lr must be a number, got 'fast'"),
        ("train.steps=2.5", "train.steps must be an integer"),
        ("train.steps=-3", "train.steps must be a positive integer"),
        ("train.optimizer=lbfgs", "train.optimizer must be one of"),
        ("model.d_hidden=true", "model.d_hidden must be an integer"),
        ("train.lr", "--set takes key=value"),
        (".train.lr=3", "unknown setting '.train.lr': a dotted path has a name between every two dots, such as train.lr"),
        ("train..lr=3", "unknown setting 'train..lr': a dotted path"),
        ("train.=3", "unknown setting 'train.': a dotted path"),
    ],
)
def test_a_bad_setting_names_the_field_and_what_is_allowed(setting, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        apply(PRESETS["quick"], [setting])


def test_parse_reads_tuples_none_and_bools():
    assert parse("0.9,0.99", tuple[float, float]) == (0.9, 0.99)
    assert parse("[1, 2, 3]", tuple[int, ...]) == (1, 2, 3)
    assert parse("none", int | None) is None and parse("4", int | None) == 4
    assert parse("false", bool) is False
    with pytest.raises(ConfigError, match="takes 2"):
        parse("1,2,3", tuple[float, float], "betas")


def test_set_and_steps_on_the_command_line_change_the_run_and_are_recorded(tmp_path):
    out = tmp_path / "dl"
    assert main(["run", "deep-linear", "--out", str(out), "--set", "train.schedule.n_log=5", "--steps", "40", "--quiet"]) in (0, 1)
    info = json.loads((out / "run.json").read_text())
    assert info["config"]["train"]["steps"] == 40 and info["config"]["train"]["schedule"]["n_log"] == 5
    assert info["settings"] == ["train.schedule.n_log=5", "train.steps=40"]
    report = json.loads((out / "report.json").read_text())
    assert report["settings"] == info["settings"] and report["preset"] == "quick"
    rebuilt = main(["report", str(out), "--rebuild"])  # the rebuild applies the same settings
    assert rebuilt in (0, 1) and json.loads((out / "report.json").read_text())["checks"] == report["checks"]


@given(st.sampled_from(["steps", "lr", "batch_size", "threads", "weight_decay", "momentum"]), st.one_of(st.booleans(), st.text(max_size=3), st.floats(allow_nan=True), st.integers(min_value=-(2**70), max_value=2**70), st.none()))
@settings(max_examples=200, deadline=None)
def test_train_config_accepts_a_value_or_names_the_field(name, value):
    try:
        cfg = TrainConfig(optimizer="sgd", **{name: value})
    except ConfigError as e:
        assert f"train.{name}" in str(e)
    else:  # what is accepted round-trips through run.json
        assert config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))) == cfg
        assert not isinstance(getattr(cfg, name), bool)


@pytest.mark.parametrize("bad", [dict(n_log=2.5), dict(every=True), dict(track_every="5")])
def test_schedule_fields_are_checked_by_type(bad):
    with pytest.raises(ConfigError, match="schedule\\."):
        ScheduleConfig(**bad)


def test_run_config_seed_must_fit_in_64_bits():
    with pytest.raises(ConfigError, match="run.seed"):
        RunConfig(PRESETS["quick"].task, PRESETS["quick"].model, TrainConfig(), seed=2**70)


def test_plugins_load_from_import_and_environment_and_register_once(tmp_path):
    (tmp_path / "myplugin.py").write_text(WEIGHT_COUNT_PLUGIN)
    env = {"PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": ""}
    listed = subprocess.run([sys.executable, "-m", "bridge.cli", "--import", "myplugin", "list"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "weight_count" in listed.stdout
    both = subprocess.run([sys.executable, "-m", "bridge.cli", "--import", "myplugin", "list"], capture_output=True, text=True, env={**env, "MECHBRIDGE_PLUGINS": "myplugin"})
    assert both.returncode == 0 and "weight_count" in both.stdout  # imported twice: registered once
    missing = subprocess.run([sys.executable, "-m", "bridge.cli", "--import", "nosuch_plugin", "list"], capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and missing.stderr.strip() == "mechbridge: error: cannot import plugin module 'nosuch_plugin': No module named 'nosuch_plugin'"
    by_file = subprocess.run([sys.executable, "-m", "bridge.cli", "--import", "myplugin.py", "list"], capture_output=True, text=True, env=env)
    assert by_file.returncode == 2 and by_file.stderr.startswith("mechbridge: error: cannot import plugin module 'myplugin.py' (give the module's dotted name, 'myplugin', importable from the working directory or PYTHONPATH, not its file path): ")


def test_plain_progress_lines_report_count_elapsed_and_what_is_left():
    out = io.StringIO()
    bar = PlainProgress(range(4), "train", total=10, initial=6, interval=0.0, file=out)
    bar.set_postfix(loss="0.5")
    assert list(bar) == [0, 1, 2, 3]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("train: 7/10 (70%), elapsed") and "s left" in lines[0] and lines[0].endswith("loss 0.5")
    assert lines[-1].startswith("train: 10/10 (100%)")


def test_a_training_run_in_a_log_prints_plain_lines(tmp_path):
    code = textwrap.dedent(f'''
        import bridge.progress as p
        p.PLAIN_INTERVAL = 0.0
        from bridge import train
        from case_studies.deep_linear import PRESETS, run_config
        import dataclasses
        cfg = run_config(PRESETS["quick"], 0)
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=30))
        train(cfg, {str(tmp_path / "run")!r})
    ''')
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert done.returncode == 0, done.stderr[-1500:]
    lines = [l for l in done.stderr.splitlines() if l.startswith("deep-linear: ")]
    assert lines and lines[-1].startswith("deep-linear: 30/30 (100%)") and "\r" not in done.stderr


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(momentum=1.0), "train.momentum must be in [0, 1), got 1.0"),
        (dict(betas=(0.9, 1.0)), "train.betas must be two numbers in [0, 1)"),
        (dict(betas=(0.9, 0.99, 0.5)), "train.betas must be a tuple of 2, got (0.9, 0.99, 0.5)"),
        (dict(threads=0), "train.threads must be >= 1, got 0"),
        (dict(optimizer="sgd", clip_grad_norm=0.0), "train.clip_grad_norm must be a positive number or None, got 0.0"),
        (dict(weight_decay=-0.1), "train.weight_decay must be >= 0, got -0.1"),
        (dict(weight_decay=float("inf")), "train.weight_decay must be a finite number, got inf"),
    ],
)
def test_train_config_refuses_the_first_value_outside_each_range(kwargs, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainConfig(**kwargs)


def test_config_values_just_inside_their_ranges_are_accepted_and_those_at_the_edges_refused():
    cfg = TrainConfig(optimizer="sgd", momentum=0.999, betas=[0.0, 0.999], threads=1, clip_grad_norm=1e-9)
    assert cfg.betas == (0.0, 0.999) and isinstance(cfg.betas, tuple) and hash(cfg)  # a list given is kept as a tuple
    assert ScheduleConfig(track_resolution=0.999).track_resolution == 0.999
    with pytest.raises(ConfigError, match=re.escape("schedule.track_resolution must be in [0, 1), got 1.0")):
        ScheduleConfig(track_resolution=1.0)
    quick = PRESETS["quick"]
    assert RunConfig(quick.task, quick.model, TrainConfig(), seed=2**63 - 1).seed == 2**63 - 1
    with pytest.raises(ConfigError, match="run.seed must be an integer"):
        RunConfig(quick.task, quick.model, TrainConfig(), seed=2**63)
    with pytest.raises(ConfigError, match="seed must be a non-negative integer, got -1"):
        RunConfig(quick.task, quick.model, TrainConfig(), seed=-1)
    from bridge.tasks import HierarchyConfig

    with pytest.raises(ConfigError, match=re.escape("hierarchy.shuffle_labels must be true or false, got 1 (int)")):
        HierarchyConfig(shuffle_labels=1)
    with pytest.raises(ConfigError, match=re.escape("train: unknown fields ['lrr']")):
        config_from_dict({"kind": "train", "lrr": 0.1})


def test_run_config_refuses_at_construction_a_task_model_or_train_field_of_another_kind_naming_the_field():
    from bridge.models import DeepLinearConfig, MLPConfig
    from bridge.tasks import HierarchyConfig

    quick = PRESETS["quick"]
    wrong = [  # (field, value): a config of another concern, or a config class rather than an instance
        ("model", quick.task), ("model", TrainConfig()), ("model", DeepLinearConfig), ("model", ScheduleConfig()),
        ("task", quick.model), ("task", TrainConfig()), ("task", HierarchyConfig),
    ]
    for part, value in wrong:
        fields = {"task": quick.task, "model": quick.model, "train": quick.train, part: value}
        with pytest.raises(ConfigError, match=rf"^run\.{part} must be a {part} config instance \(of a kind a {part} builder is registered under\), got .*\({type(value).__name__}\)$"):
            RunConfig(**fields)
    with pytest.raises(ConfigError, match=r"^run\.train must be a TrainConfig, got ScheduleConfig"):
        RunConfig(quick.task, quick.model, ScheduleConfig())
    fine = RunConfig(HierarchyConfig(), MLPConfig(d_in=8, d_out=4), TrainConfig(steps=3))
    assert (fine.task.kind, fine.model.kind, fine.train.steps) == ("hierarchy", "mlp", 3)

    @dataclasses.dataclass(frozen=True)
    class UserNet:  # a user's model config whose builder's module is not imported: a run trained with it still reads
        kind = "user_net_without_builder"
        width: int = 4

    assert RunConfig(quick.task, UserNet(), quick.train).model.width == 4


def test_parse_reads_one_and_zero_as_bools_a_trailing_comma_an_empty_tuple_and_none_only_where_allowed():
    assert parse("1", bool) is True and parse("0", bool) is False and parse("YES", bool) is True
    assert parse("1,2,", tuple[int, ...]) == (1, 2) and parse("", tuple[int, ...]) == ()
    assert parse("none", int | str) == "none" and parse("None", int | None) is None
    cfg = apply(TrainConfig(), [" optimizer = adam ", "lr= 0.5"])
    assert (cfg.optimizer, cfg.lr) == ("adam", 0.5)


def test_plugins_of_the_environment_import_before_those_named_and_the_search_path_is_added_once(tmp_path, monkeypatch):
    from bridge.plugins import ENV, export_plugins, load_plugins

    monkeypatch.setenv(ENV, "math")
    assert load_plugins(["json"])[-2:] == ["math", "json"]
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "a"))
    export_plugins(["json"], str(tmp_path / "b"))
    export_plugins(["json"], str(tmp_path / "b"))
    assert os.environ["PYTHONPATH"] == os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    assert os.environ[ENV] == "math,json"


def test_plain_progress_estimates_what_is_left_from_the_items_done_since_it_started(monkeypatch):
    import types

    import bridge.progress as progress

    clock = iter([0.0, 5.0, 7.0, 13.0, 13.0])  # start, after each item, the last line
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    out = io.StringIO()
    assert list(PlainProgress(range(2), "train", total=10, initial=6, interval=5.0, file=out)) == [0, 1]
    # 1 item in 5 s, 3 left: 15 s; a line every 5 s (the second item, 2 s later, has none); 2 items in 13 s, 2 left: 13 s
    assert out.getvalue().splitlines() == ["train: 7/10 (70%), elapsed 5 s, about 15 s left", "train: 8/10 (80%), elapsed 13 s, about 13 s left"]


def test_progress_off_a_terminal_counts_from_the_initial_step(monkeypatch, capsys):
    import bridge.progress as progress

    monkeypatch.setattr(progress, "PLAIN_INTERVAL", 0.0)
    assert list(progress.progress_bar(range(2), "train", total=10, initial=8)) == [0, 1]
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("train: 9/10 (90%)") and lines[-1].startswith("train: 10/10 (100%)")
