"""Variants of the induction-heads case study: which of its targets belong to the phenomenon, which to a setting?

The base of every variant is :data:`QUICK_ADAMW`: the ``quick`` preset's task,
sizes, batch and steps with learned absolute positions and AdamW (lr 1e-3, no
weight decay). It misses two targets: its layer-0 previous-token heads stop at
query 19, so the off-position induction score ends below 0.85, and AdamW grows
two or three redundant previous-token heads, so ablating one leaves induction
standing. Each variant changes one or two settings (:data:`CHANGES`); the variants
run as one :func:`bridge.sweep` of the case study over those points and seeds, so
each report is judged exactly as the preset's, and the sweep runs on Ray or SLURM
unchanged (``--backend ray``):

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
* ``sgd-rotary``: both ``rotary`` and ``sgd``; the case study's ``quick`` preset is this
  with a 200-step learning-rate warm-up and gradient clipping at norm 1.0;
* ``bigram``: the prefix and the block's first copy drawn from a seeded Markov chain,
  so there is a bigram statistic to learn before the repeats.

Example (about two minutes per run on 2 cores)::

    python -m experiments.induction_variants --variant rotary --seeds 0 1 2 --out runs/variants
    python -m experiments.induction_variants --seeds 0 1 2 --out runs/variants --backend ray --workers 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from bridge.config import ScheduleConfig, TrainConfig
from bridge.models import TransformerConfig
from bridge.overrides import apply
from bridge.sweep.grid import value_text
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
        >>> adamw_with(optimizer="sgd", lr=1.0, momentum=0.9, positional_embedding="rotary", warmup=200, clip_grad_norm=1.0) == QUICK
        True
    """
    parts = {"task": QUICK_ADAMW.task, "model": QUICK_ADAMW.model, "train": QUICK_ADAMW.train}
    fields = {name: {f.name for f in dataclasses.fields(part)} for name, part in parts.items()}
    unknown = [key for key in changes if not any(key in names for names in fields.values())]
    if unknown:
        raise TypeError(f"no setting {unknown[0]!r} in the preset's task, model or train config")
    replaced = {name: dataclasses.replace(part, **{k: v for k, v in changes.items() if k in fields[name]}) for name, part in parts.items()}
    return dataclasses.replace(QUICK_ADAMW, **replaced)


CHANGES: dict[str, dict[str, object]] = {
    "adamw": {},
    "rotary": {"model.positional_embedding": "rotary"},
    "two-heads": {"model.n_heads": 2, "model.d_head": 32},
    "weight-decay": {"train.weight_decay": 1.0},
    "small-init": {"model.init_range": 0.02},
    "sgd": {"train.optimizer": "sgd", "train.lr": 1.0, "train.momentum": 0.9},
    "sgd-rotary": {"train.optimizer": "sgd", "train.lr": 1.0, "train.momentum": 0.9, "model.positional_embedding": "rotary"},
    "bigram": {"task.background": "bigram"},
}
"""Each variant as the dotted preset fields it changes from :data:`QUICK_ADAMW` (the points of its sweep)."""

VARIANTS: dict[str, InductionPreset] = {name: apply(QUICK_ADAMW, [f"{k}={value_text(v)}" for k, v in changes.items()]) for name, changes in CHANGES.items()}


def run_variants(names: list[str], seeds: list[int], out: str | Path, *, backend: str = "local", device: str = "cpu", progress: bool | None = False, **options) -> list[dict]:
    """Run variants ``names`` × ``seeds`` as one sweep of :data:`QUICK_ADAMW` into ``out``; return their summaries.

    Every point is an ordinary case-study output in ``out/points/<key>``; the same
    command resumes a killed sweep, and ``backend="ray"`` (or ``"submitit"``) runs
    the points there (``options``: ``workers``, ``address``, ``cluster``).

    Returns ``[{"variant", "seed", "verdict", "failed": [row names], "checks": {name: value}}]``
    for the finished points, variant by variant.
    """
    import bridge

    if isinstance(names, str):
        raise TypeError(f"names is a list of variants, got the text {names!r}; pass [{names!r}]")
    unknown = [n for n in names if n not in CHANGES]
    if unknown:
        raise KeyError(f"unknown variant {unknown[0]!r} (variants: {', '.join(CHANGES)})")
    swept = bridge.sweep("induction-heads", out, points=[CHANGES[n] for n in names], seeds=seeds, preset=QUICK_ADAMW, backend=backend, device=device, progress=progress, **options)
    summaries = []
    for key, (name, seed) in zip(swept.keys, [(n, s) for n in names for s in seeds]):  # seeds vary fastest
        path = Path(out) / "points" / key / "report.json"
        if path.exists():
            summaries.append(summary(name, seed, json.loads(path.read_text())))
    return summaries


def summary(name: str, seed: int, report: dict) -> dict:
    """One line of the variants table from a point's ``report.json``."""
    failed = [c["name"] for c in report["checks"] if not c["passed"]] + [m["prediction"] for m in report["matches"] if not m["passed"]]
    return {"variant": name, "seed": seed, "verdict": report["verdict"], "failed": failed, "checks": {c["name"]: c["value"] for c in report["checks"]}}


_COLUMNS = {
    "induction test": "final induction score (test)",
    "induction off-position": "final induction score (off-position)",
    "ablation Δloss": "repeated-token loss increase",
    "ablation max L1 induction": "max layer-1 induction score",
}


def summary_table(summaries: list[dict]) -> str:
    """A markdown table of :func:`run_variants` summaries: verdict, the target values, and what failed."""
    lines = ["| variant | seed | verdict | " + " | ".join(_COLUMNS) + " | failed |", "|---" * (len(_COLUMNS) + 4) + "|"]
    for s in summaries:
        values = [next((v for k, v in s["checks"].items() if part in k), None) for part in _COLUMNS.values()]
        cells = ["—" if v is None else f"{v:.3f}" for v in values]
        lines.append(f"| {s['variant']} | {s['seed']} | {s['verdict']} | " + " | ".join(cells) + f" | {'; '.join(s['failed']) or '—'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", nargs="+", default=list(CHANGES), choices=list(CHANGES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backend", default="local", choices=["local", "ray", "submitit"])
    parser.add_argument("--workers", type=int, default=None, help="points at once on ray or submitit")
    args = parser.parse_args(argv)
    options = {} if args.backend == "local" else {"workers": args.workers}
    try:
        summaries = run_variants(args.variant, args.seeds, args.out, backend=args.backend, device=args.device, progress=None, **options)
    except (FileExistsError, KeyError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    for row in summaries:
        print(json.dumps(row), flush=True)
    print(summary_table(summaries))


if __name__ == "__main__":
    main()

__all__ = ["CHANGES", "QUICK_ADAMW", "VARIANTS", "adamw_with", "run_variants", "summary", "summary_table"]
