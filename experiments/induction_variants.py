"""Variants of the induction-heads case study: which of its targets belong to the phenomenon, which to a setting?

The base of every variant is :data:`QUICK_ADAMW`: the ``quick`` preset's task,
sizes, batch and steps with learned absolute positions and AdamW (lr 1e-3, no
weight decay). It misses two targets: its layer-0 previous-token heads stop at
query 19, so the off-position induction score ends below 0.85, and AdamW grows
two or three redundant previous-token heads, so ablating one leaves induction
standing. Each variant changes one or two settings and runs through the case
study's own runner and targets, so its report is judged exactly as the preset's:

* ``rotary``: rotary positions (a previous-token head is a function of the offset
  alone, so it cannot stop at a query position);
* ``two-heads``: 2 heads of 32 per layer instead of 4 of 16 (fewer heads to share
  the previous-token job);
* ``weight-decay``: AdamW weight decay 1.0 (a penalty on keeping copies of one function);
* ``small-init``: weights drawn with std 0.02 instead of 0.8/√d_model = 0.1 (from a
  small initialisation features are learned one at a time);
* ``sgd``: SGD with momentum 0.9 at lr 1.0 (AdamW normalises each coordinate's step,
  so every head leaning towards the previous token moves at the same speed; under
  gradient descent a head's speed grows with its lead);
* ``sgd-rotary``: both ``rotary`` and ``sgd``; this is the case study's ``quick`` preset;
* ``bigram``: the prefix and the block's first copy drawn from a seeded Markov chain,
  so there is a bigram statistic to learn before the repeats.

Example (about two minutes per run on 2 cores)::

    python -m experiments.induction_variants --variant rotary --seeds 0 1 2 --out runs/variants
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from bridge.config import ScheduleConfig, TrainConfig
from bridge.models import TransformerConfig
from case_studies import run_case_study
from case_studies.induction_heads import PRESETS, InductionPreset

QUICK = PRESETS["quick"]
QUICK_ADAMW = dataclasses.replace(
    QUICK,
    model=TransformerConfig(d_vocab=64, n_ctx=32, d_model=64, n_heads=4, d_head=16, n_layers=2, d_mlp=None, normalization=None),
    train=TrainConfig(optimizer="adamw", lr=1e-3, steps=2000, batch_size=64, schedule=ScheduleConfig(n_log=12, every=50)),
)


def adamw_with(**changes) -> InductionPreset:
    """:data:`QUICK_ADAMW` with ``changes`` applied to whichever of its task, model and train configs has each field.

    Raises ``TypeError`` naming a setting that none of them has.

    Example:
        >>> preset = adamw_with(background="bigram", steps=6000)
        >>> preset.task.background, preset.train.steps, preset.model == QUICK_ADAMW.model
        ('bigram', 6000, True)
        >>> adamw_with(optimizer="sgd", lr=1.0, momentum=0.9, positional_embedding="rotary") == QUICK
        True
    """
    parts = {"task": QUICK_ADAMW.task, "model": QUICK_ADAMW.model, "train": QUICK_ADAMW.train}
    fields = {name: {f.name for f in dataclasses.fields(part)} for name, part in parts.items()}
    unknown = [key for key in changes if not any(key in names for names in fields.values())]
    if unknown:
        raise TypeError(f"no setting {unknown[0]!r} in the preset's task, model or train config")
    replaced = {name: dataclasses.replace(part, **{k: v for k, v in changes.items() if k in fields[name]}) for name, part in parts.items()}
    return dataclasses.replace(QUICK_ADAMW, **replaced)


VARIANTS: dict[str, InductionPreset] = {
    "adamw": QUICK_ADAMW,
    "rotary": adamw_with(positional_embedding="rotary"),
    "two-heads": adamw_with(n_heads=2, d_head=32),
    "weight-decay": adamw_with(weight_decay=1.0),
    "small-init": adamw_with(init_range=0.02),
    "sgd": adamw_with(optimizer="sgd", lr=1.0, momentum=0.9),
    "sgd-rotary": QUICK,
    "bigram": adamw_with(background="bigram"),
}


def run_variant(name: str, seed: int, out: Path, device: str = "cpu") -> dict:
    """Run variant ``name`` with ``seed`` into ``out / name / seed_S`` and return its report's summary.

    Returns ``{"variant", "seed", "verdict", "failed": [check names], "checks": {name: value}}``.
    An existing report there is read, not recomputed.
    """
    if name not in VARIANTS:
        raise KeyError(f"unknown variant {name!r} (variants: {', '.join(VARIANTS)})")
    path = Path(out) / name / f"seed_{seed}"
    if not (path / "report.json").exists():
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} holds an unfinished run of variant {name!r} (no report.json): remove it to run that variant again")
        run_case_study("induction-heads", VARIANTS[name], path, seed=seed, device=device, progress=False)
    data = json.loads((path / "report.json").read_text())
    failed = [c["name"] for c in data["checks"] if not c["passed"]] + [m["prediction"] for m in data["matches"] if not m["passed"]]
    return {"variant": name, "seed": seed, "verdict": data["verdict"], "failed": failed, "checks": {c["name"]: c["value"] for c in data["checks"]}}


_COLUMNS = {
    "induction test": "final induction score (test)",
    "induction off-position": "final induction score (off-position)",
    "ablation Δloss": "repeated-token loss increase",
    "ablation max L1 induction": "max layer-1 induction score",
}


def summary_table(summaries: list[dict]) -> str:
    """A markdown table of :func:`run_variant` summaries: verdict, the target values, and what failed."""
    lines = ["| variant | seed | verdict | " + " | ".join(_COLUMNS) + " | failed |", "|---" * (len(_COLUMNS) + 4) + "|"]
    for s in summaries:
        values = [next((v for k, v in s["checks"].items() if part in k), None) for part in _COLUMNS.values()]
        cells = ["—" if v is None else f"{v:.3f}" for v in values]
        lines.append(f"| {s['variant']} | {s['seed']} | {s['verdict']} | " + " | ".join(cells) + f" | {'; '.join(s['failed']) or '—'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    summaries = []
    try:
        for name in args.variant:
            for seed in args.seeds:
                summaries.append(run_variant(name, seed, args.out, args.device))
                print(json.dumps(summaries[-1]), flush=True)
    except (FileExistsError, KeyError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    print(summary_table(summaries))


if __name__ == "__main__":
    main()

__all__ = ["QUICK_ADAMW", "VARIANTS", "adamw_with", "run_variant", "summary_table"]
