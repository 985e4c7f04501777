"""The seed-0 numbers each case study's page quotes for its quick preset, checked against the report.json of the
quick run its end-to-end test trains (seed 0): each page's function takes that report (read with ``json``), or the
run's folder when it reads events.json too, and compares the page's seed-0 table cells and a few seed-0 statements at the precision printed. No training here."""

from __future__ import annotations

import re

from helpers import ROOT, as_printed, page_row, page_table
from rounding import require_reference_rounding


def quanta_page(saved: dict) -> None:
    """The page's seed-0 verdict is this run's; on the CPU the page was measured on, which claims pass and its seed-0
    rows (results and quanta over training) too, as printed (elsewhere the quanta learned by width can differ by one
    width's count, and with it that claim)."""
    page = "case_studies/quanta.md"
    row = page_row(page, "| seed | ρ (order) |")
    counted = [r for r in saved["checks"] if r["counted"]]
    assert row["verdict"] == saved["verdict"] and not saved["failed_preconditions"] and len(counted) == 7
    require_reference_rounding(page)
    prose = " ".join((ROOT / "docs" / page).read_text().split())
    assert f"Seed 0 converges at every width and its verdict is **{saved['verdict']}**: two claims pass (frequency order and quanta per width) and five fail." in prose
    assert [r["name"] for r in counted if r["passed"]] == ["Spearman ρ: frequency rank vs emergence step", "quanta learned by width (narrow → wide)"]
    rows = {r["name"].split(" (95% CI")[0]: r for r in saved["checks"]}
    value = {name: r["value"] for name, r in rows.items()}
    n_ci = re.search(r"95% CI (\S+) to (\S+)\)", next(r["name"] for r in saved["checks"] if r["name"].startswith("exponent of final mean loss vs parameters")))
    s_ci = value["95% CI of the steps exponent"].split(" to ")
    steps = value["exponent of mean loss vs steps, widest model (first to last emergence)"]
    model_n = value["exponent the quantization model gives for the quanta learned at these widths (finite n_tasks)"]
    model_s = value["exponent the quantization model gives for the quanta learned at these steps (finite n_tasks)"]
    settled = value["share of the widest model's tracked steps (before all are learned) with every subtask settled"]
    expected = {
        "ρ (order)": value["Spearman ρ: frequency rank vs emergence step"], "drop width / step, worst": value["largest drop width / emergence step"],
        "share at onset / chance, least": value["least relevant-bit share at a drop's onset / chance"], "model": model_n, "model 2": model_s,
    }
    for column, number in expected.items():
        assert as_printed(number, row[column]) == row[column], (column, number)
    assert row["quanta learned, widths 8 → 256"] == ", ".join(map(str, saved["quanta"]["quanta_learned"]))
    _same(row["exponent vs N (target 0.4 ± 25%)"], "{} ({} to {})", value["exponent of final mean loss vs parameters"], *n_ci.groups())
    _same(row["exponent vs S (target 0.286 ± 25%)"], "{} ({} to {})", steps, *s_ci)
    share, error = row["settled steps; error, all steps"].split("; ")
    assert share == f"{settled:.0%}" and as_printed(value["largest error over every tracked step before all are learned (mid-drop steps included)"], error) == error
    # quanta learned at 3/4 of training and at the end, by width (the last two of each cell)
    over_training = page_row(page, "| seed | width 8 |")
    for width, cell in zip(saved["quanta"]["widths"], list(over_training.values())[1:]):
        assert cell.split(", ")[2:] == value[f"width {width}: quanta learned at 3/4 of training and at the end"].split(" / "), width


def _same(cell: str, layout: str, *values) -> None:
    """``cell`` is ``layout`` (``{}`` for each number) filled with ``values``, each at the precision the cell prints it;
    ``None`` stands for a number not compared (any number), a string for a number the report already rounded
    (``"1.075"``: the cell may print any number that rounds to it, 1.07 or 1.08)."""
    pattern = re.escape(layout).replace(r"\{\}", r"([+−-]?\d+(?:\.\d+)?)")
    texts = re.fullmatch(pattern, cell)
    assert texts, f"{cell!r} is not laid out as {layout!r}"
    printed = [t if v is None else _reprinted(v, t) for v, t in zip(values, texts.groups())]
    assert printed == list(texts.groups()), f"{cell!r}: this run prints {layout.format(*printed)!r}"


def _reprinted(value: float | str, text: str) -> str:
    """``value`` as :func:`as_printed` writes it like ``text``; a string ``value`` is a number the report rounded, so
    ``text`` is kept when some number that rounds to ``value`` prints as ``text`` (rounding twice can differ)."""
    if not isinstance(value, str):
        return as_printed(value, text)
    half = 0.5 * 10.0 ** -len(value.partition(".")[2]) * (1 - 1e-9)
    return text if text in {as_printed(float(value) + side * half, text) for side in (-1, 1)} else as_printed(float(value), text)


def edge_of_stability_page(saved: dict) -> None:
    """The page's seed-0 verdict, failing row and step sizes are this run's; on the CPU the page was measured on, its
    three seed-0 rows (one per step size) and the top neurons shared between step sizes too, as printed."""
    page = "case_studies/edge-of-stability.md"
    rows = [r for r in page_table(page, "| seed | η | 2/η |") if r["seed"] == "0"]
    assert [float(r["η"]) for r in rows] == [m["detail"]["lr"] for m in saved["matches"]]
    counted = [r for r in saved["checks"] + saved["matches"] if r["counted"]]
    prose = " ".join((ROOT / "docs" / page).read_text().split())
    assert f"Verdicts: seeds 0, 1 and 2 **{saved['verdict']}** (1 of {len(counted)} counted rows fails in seeds 0 and 2, and 2 in seed 1: the period-2 oscillation at η = 0.25," in prose
    assert [r["name"].split(": ")[0] for r in counted if not r["passed"]] == ["η=0.25 (2/η=8)"]  # "at η = 0.25 in every seed"
    assert "neurons among the top 5 of v₁'s loading for every η: none" in " ".join(saved["notes"])
    require_reference_rounding(page)
    for row, match in zip(rows, saved["matches"]):
        lr, detail = match["detail"]["lr"], match["detail"]
        claims = {c["name"].split(": ", 1)[1].split(" (")[0]: c["value"] for c in saved["checks"] if c["name"].startswith(f"η={lr:g} ")}
        median = claims["median sharpness over the plateau"]
        _same(row["2/η"], "{}", 2 / lr)
        _same(row["plateau median"], "{}", median)
        _same(row["rel. error"], "{} %", 100 * abs(median * lr / 2 - 1))
        _same(row["sharpening half-rise / plateau start"], "{} / {}", claims["progressive sharpening detected before the plateau"], detail["plateau_start"])
        _same(row["2/η reached"], "{}", detail["sharpness_reaches_2_over_eta"])
        _same(row["first loss rise / oscillation onset"], "{} / {}", match["observed_step"], match["mechanism_step"])
        _same(row["fall"], "{}", claims["loss falls over the plateau"])
        _same(row["climb"], "{}", claims["loss non-monotone on short horizons"])
        _same(row["osc."], "{} ({})", claims["GD oscillates with period 2 along v₁ on the plateau, from the oscillation onset on"], detail["plateau_alternation_fraction"])
    top = {m["detail"]["lr"]: {tuple(n[:2]) for n in m["detail"]["final_top_neurons"]} for m in saved["matches"]}
    shared = {4: "four"}.get(len(top[0.18] & top[0.14]), str(len(top[0.18] & top[0.14])))
    assert f"none in seed 0, where η = 0.18 and 0.14 share {shared} and η = 0.25 has its own." in prose


def llc_calibration_page(saved: dict) -> None:
    """The page's seed-0 column (each shape's λ̂ ± spread over chains and λ̂/λ − 1, the verdict) and its seed-0
    statements (nβ·L_n(w*) below 1e-8, no chain diverged) are this run's, as printed."""
    page = "case_studies/llc-calibration.md"
    table = page_table(page, "| shape | λ | seed 0 |")
    *rows, verdict = table
    assert [r["shape"] for r in rows] == [s["shape"] for s in saved["shapes"]]
    for row, shape in zip(rows, saved["shapes"]):
        _same(row["λ"], "{}", shape["theory"])
        _same(row["seed 0"], "{} ± {} ({}%)", shape["estimate"], shape["std"], 100 * (shape["estimate"] / shape["theory"] - 1))
    counted = [c for c in saved["checks"] if c["counted"]]
    assert verdict["shape"] == f"verdict ({len(counted)} counted claims)" and verdict["seed 0"] == saved["verdict"]
    prose = " ".join((ROOT / "docs" / page).read_text().split())
    assert "nβ·L_n(w*) stays below 1e-8 and no chain diverged in any seed" in prose
    assert all(c["value"] < 1e-8 for c in saved["checks"] if "nβ·L_n(w*)" in c["name"])
    assert all(c["value"] == 0 for c in saved["checks"] if c["name"].endswith("diverged chains"))


def superposition_page(saved: dict) -> None:
    """The page's seed-0 row (verdict, pentagon, k-gon events and lag, the unmeasured step, phases, sticky share) and
    seed 0's final λ̂ are this run's, as printed."""
    page = "case_studies/superposition.md"
    row = page_row(page, "| seed | verdict | pentagon gap error (°) |")
    pentagon, step, phases, sticky = saved["checks"]
    (kgon,) = saved["matches"]
    assert row["verdict"] == saved["verdict"]
    _same(row["pentagon gap error (°)"], "{}", pentagon["value"])
    _same(row["λ̂ event / pentagon event"], "{} / {}", kgon["observed_step"], kgon["mechanism_step"])
    _same(row["relative lag"], "{}", kgon["relative_error"])
    assert row["λ̂ step 4-gon → pentagon"] == "not measured (no 4-gon checkpoint): fails"
    assert step["value"] is None and not step["passed"] and step["reason"].startswith("no checkpoint rests in a regular 4-gon")
    _same(row["phase agreement"], "{}", phases["value"])
    _same(row["sticky share"], "{}", sticky["value"])
    final = re.search(r"Seeds 0 and 2 end as regular pentagons, with λ̂ over the last quarter (\S+) and", " ".join((ROOT / "docs" / page).read_text().split()))
    _same(final[1], "{}", kgon["detail"]["final_llc"])


def grokking_page(out) -> None:
    """The page's seed-0 row and seed 0's clean-up, excluded-loss rise and Gini lag in the prose are those of the
    quick run in ``out`` (its report.json and events.json), as printed; off the CPU the page was measured on, its
    verdict and the order of the restricted and test losses' half-drops alone."""
    import json

    page = "case_studies/grokking.md"
    saved, events = json.loads((out / "report.json").read_text()), json.loads((out / "events.json").read_text())
    rows = {r.get("name", r.get("prediction")): r for r in saved["checks"] + saved["matches"]}
    event = {e["name"]: e for e in events}
    phase = {e["name"]: e for e in events if e["type"] == "stage"}
    row = page_row(page, "| seed | verdict | train 99% / test 95% |")
    assert row["verdict"] == saved["verdict"]
    assert rows["restricted loss falls before test loss (half-drop steps)"]["passed"]
    require_reference_rounding(page)
    memorised, grokked = event["train accuracy > 99%"]["step"], event["test accuracy > 95%"]["step"]
    _same(row["train 99% / test 95%"], "{} / {} ({}×)", memorised, grokked, rows["test acc > 95% step / train acc > 99% step"]["value"])
    _same(row["phase ends"], "{} / {} / {}", *(phase[p]["end"] for p in ("memorisation", "circuit formation", "clean-up")))
    _same(row["restricted vs test half-drop"], "{} vs {}", event["restricted loss half-way down from its peak"]["step"], event["test loss half-way down from its peak"]["step"])
    assert rows["restricted loss falls before test loss (half-drop steps)"]["value"] == row["restricted vs test half-drop"]
    _same(row["excluded rise"], "{}", rows["excluded loss rise over circuit formation (end / start)"]["value"])
    _same(row["top-8 share"], "{}", rows["share of final embedding Fourier norm² in the top 8 frequencies"]["value"])
    gini = rows["W_E Gini half-rise with the test-loss half-drop"]
    _same(row["Gini half-rise vs test half-drop (lag)"], "{} vs {} ({})", gini["mechanism_step"], gini["observed_step"], gini["relative_error"])
    _same(row["AGF max rel. error"], "{}", max(m["relative_error"] for m in saved["matches"] if m["prediction"].startswith("AGF")))
    fit = saved["sweep"]["fit"]
    _same(row["sweep α (95% CI)"], "{} [{}, {}]", fit["exponent"], fit["ci_low"], fit["ci_high"])
    prose = " ".join((ROOT / "docs" / page).read_text().split())
    cleanup = re.search(r"\(the clean-up: (\S+) and \S+ nats in (\S+) and \S+ steps\)", prose)
    _same(cleanup[0], "(the clean-up: {} and 5.5 nats in {} and 540 steps)", -phase["clean-up"]["change"], phase["clean-up"]["end"] - phase["clean-up"]["start"])
    excluded = re.search(r"in seeds 0 and 1 \(×(\S+), ×\S+\)", prose)
    _same(excluded[1], "{}", rows["excluded loss rise over circuit formation (end / start)"]["value"])
    lag = re.search(r"in seeds 0 and 1 \((\S+)× and \S+× its step", prose)
    _same(lag[1], "{}", gini["mechanism_step"] / gini["observed_step"])


def induction_heads_page(out) -> None:
    """The page's seed-0 row (drop, half-rises with their heads, the LLC boundary, final scores, ablation, control,
    verdict) is the quick run's in ``out`` (report.json and events.json), as printed; off the CPU the page was
    measured on, its verdict and ablation statement alone (which head of a layer becomes the induction head can differ)."""
    import json

    page = "case_studies/induction-heads.md"
    saved, events = json.loads((out / "report.json").read_text()), json.loads((out / "events.json").read_text())
    rows = {r.get("key") or r.get("name", r.get("prediction")): r for r in saved["checks"] + saved["matches"]}
    step = {e["name"]: e["step"] for e in events if e["type"] == "event"}
    induction, previous = (f"L{layer}H{head}" for layer, head in (saved["induction_head"], saved["previous_token_head"]))
    row = page_row(page, "| seed | loss drop (half-drop) |")
    assert row["verdict"] in (saved["verdict"], f"**{saved['verdict']}**")
    assert rows["mean-ablating the previous-token head: max layer-1 induction score"]["value"] <= 0.16  # "no layer-1 induction score above 0.16"
    require_reference_rounding(page)
    drop = rows["the phenomenon: an abrupt drop of the repeated-token loss"]["value"].replace("-", "–")
    _same(row["loss drop (half-drop)"], f"{drop} ({{}})", step["repeated-token loss half-drop"])
    _same(row["induction half-rise"], f"{{}} ({induction})", step[f"{induction} induction score half-rise"])
    _same(row["prev-token half-rise"], f"{{}} ({previous})", step[f"{previous} previous-token score half-rise"])
    _same(row["K-comp half-rise"], "{}", step[f"K-composition {previous}->{induction} half-rise"])
    llc = rows["learning-coefficient stage boundary at the end of the loss drop"]
    _same(row["drop end / LLC boundary"], "{} / {}" + ("" if llc["passed"] else ": fails") + " ({})", llc["observed_step"], llc["mechanism_step"], llc["relative_error"])
    _same(row["final induction test / off"], "{} / {}", rows["induction head: final induction score (test)"]["value"], rows["induction head: final induction score (off-position)"]["value"])
    _same(row["prev-token ablation (nats)"], "{}", rows["mean-ablating the previous-token head: repeated-token loss increase (nats)"]["value"])
    slow, fast = map(float, rows["one-layer control: steepest fall of log repeated-token loss vs the two-layer drop (per 1000 steps)"]["value"].split(" vs "))
    _same(row["control loss, fall rate vs main (per 1000 steps)"], "{}, {} vs {}", rows["one-layer control: final repeated-token loss (nats)"]["value"], slow, fast)


def _same_power(cell: str, value: float) -> None:
    """``cell`` is ``value`` written as ``m·10⁻ᵏ`` (``m`` at the precision printed)."""
    mantissa, power = re.fullmatch(r"([\d.]+)·10⁻([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", cell).groups()
    k = int(power.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")))
    assert as_printed(value * 10**k, mantissa) == mantissa, f"{cell!r}: this run prints {as_printed(value * 10**k, mantissa)}·10⁻{power}"


def kernel_limit_page(saved: dict) -> None:
    """Seed 0's verdict and which of its claims the page marks failed are this run's; on the CPU the page was
    measured on, its two seed-0 rows (lazy end; kernel, features and crossover) and seed 0's numbers in the prose
    (settled lazy end, crossovers and their ratios, elasticity, the largest single-set and mean gaps) too."""
    page = "case_studies/kernel-limit.md"
    checks = saved["checks"]

    def named(start: str) -> dict:
        return next(c for c in checks if c["name"].startswith(start))

    prose = " ".join((ROOT / "docs" / page).read_text().split())
    assert f"Verdicts as measured: seeds 0, 1 and 2 all **{saved['verdict']}**" in prose and not saved["failed_preconditions"]
    lazy, rich = page_row(page, "| seed | mean over 16 sets: cube MSE / eigenlearning |"), page_row(page, "| seed | distance at α=50 | slope |")
    assert lazy["order"] == ("✔" if named("lazy end α=50: terms learned in order")["passed"] else "✘")
    for cell, start in ((rich["support share ×init"], "rich end α=0.05: first-layer weight share on the support"), (rich["α_F"], "crossover: α where the support enrichment reaches 1.1")):
        assert cell.endswith(" ✘") != named(start)["passed"], (cell, start)
    assert not named("crossover: α where the kernel distance")["passed"]  # "fails in every seed"
    require_reference_rounding(page)

    def inner(start: str) -> str:  # what the row's name holds in its last bracket
        return re.search(r"\(([^()]*)\)[^()]*$", named(start)["name"])[1]

    mean_mse = named("lazy end α=50, mean over 16 training sets: cube MSE")
    fractions = [named(f"lazy end α=50, mean over 16 training sets: learned fraction of {t}")["value"] for t in ("χ_{0} ", "χ_{0,1} ", "χ_{0,1,2} ")]
    learnable = saved["eigenlearning"]["learnability"]
    row = page_row(page, "| seed | mean over 16 sets: cube MSE / eigenlearning |")
    _same(row["mean over 16 sets: cube MSE / eigenlearning"], "{} / {} ({} %)", *map(float, inner("lazy end α=50, mean over 16 training sets: cube MSE").split(" vs ")), 100 * mean_mse["value"])
    _same(row["mean over 16 sets: fraction / L"], "{}/{}, {}/{}, {}/{}", *(v for pair in zip(fractions, learnable) for v in pair))
    own = named("lazy end α=50, this training set alone: cube MSE")["value"]
    descent = named("lazy end α=50: cube MSE vs kernel gradient descent with K₀")["value"]
    _same(row["one set: MSE gap to eigenlearning; to its own kernel descent"], "{} %; {} %", 100 * own, 100 * descent)
    _same(row["half-time error"], "{} %, {} %, {} %", *(100 * m["relative_error"] for m in saved["matches"]))

    row = page_row(page, "| seed | distance at α=50 | slope |")
    cross = saved["crossover"]
    _same_power(row["distance at α=50"], named("lazy end α=50: final kernel distance")["value"])
    slope = named("lazy half (α ≥ 1.5): log-log slope")
    _same(row["slope"], "{} [{}, {}]", slope["value"], *map(float, re.search(r"\[(\S+), (\S+)\]", slope["name"]).groups()))
    _same(row["distance at α=0.05"], "{}", named("rich end α=0.05: final kernel distance")["value"])
    _same(row["alignment at α=0.05"], "{} → {}", *map(float, inner("rich end α=0.05: kernel–target alignment").split(" → ")))
    support = named("rich end α=0.05: first-layer weight share on the support")
    _same(row["support share ×init"], "{}" + ("" if support["passed"] else " ✘"), support["value"])
    residual = named("rich end α=0.05: degree-3 residual power")
    power, share = row["degree-3 residual (kernel)"].split(" (")
    _same_power(power, residual["value"])
    _same(share, "{})", float(residual["name"].rsplit(" ", 1)[1]))
    features = named("crossover: α where the support enrichment reaches 1.1")
    for column, value, passed in (("α_K", cross["kernel_distance"], True), ("α_E", cross["test_mse"], True), ("α_F", cross["features"], features["passed"]),
                                  ("α_O", cross["test_mse_own_set"], True), ("α_M", cross["kernel_along_target"], True)):
        _same(row[column], "{}" + ("" if passed else " ✘"), value)

    def first(pattern: str) -> str:  # seed 0's number, the first of a list
        return re.search(pattern, prose)[1]

    _same(first(r"its linearised test MSE at step 4000 is (\S+) %"), "{}", 100 * named("lazy end: the linearised test MSE at the last step")["value"])
    _same(first(r"the test error departs by 10 % at α = (\S+), \S+ and \S+ \(seeds 0–2\), 20–42 times"), "{}", cross["test_mse_own_set"])
    _same(first(r"departs by 10 % at α = (\S+), \S+ and \S+ \(seeds 0–2\), where the test MSE"), "{}", cross["kernel_along_target"])
    _same(first(r"by 10 % at α = \S+, \S+ and \S+: ratios (\S+), \S+ and \S+ \(a report row"), "{}", cross["kernel_along_target"] / cross["test_mse_own_set"])
    _same(first(r"rises at α = (\S+), \S+ and \S+: ratios"), "{}", cross["alignment"])
    _same(first(r"rises at α = \S+, \S+ and \S+: ratios (\S+), "), "{}", cross["alignment"] / cross["test_mse_own_set"])
    _same(first(r"is (−\S+), −\S+ and −\S+ for χ_\{0,1,2\} in seeds 0–2"), "{}", saved["eigenlearning"]["elasticity"][-1])
    _same(first(r"The test error leaves the kernel prediction at α ≈ (\S+) in seed 0"), "{}", cross["test_mse"])
    _same(first(r"\(largest gap (\S+), \S+ and \S+\); the mean's tolerance"), "{}", named("lazy end α=50, this training set alone: largest gap")["value"])
    _same(first(r"their interpolants average (\S+), about"), "{}", saved["kernel_sets"]["same"]["fractions"][0])
    _same(first(r"below the further sets' (\S+)\."), "{}", saved["kernel_sets"]["further"]["fractions"][0])
    _same(first(r"\(largest gap (\S+), seed 0's degree 1\)"), "{}", max(abs(f - lv) for f, lv in zip(fractions, learnable)))


def mup_page(saved: dict) -> None:
    """What the page states of run seed 0 alone (the quick preset with ``seeds=1``): its best learning-rate index per
    width under μP, and under SP an index of 4–5 at width 32 falling to 0 at width 512. The page's table averages run
    seeds 0–2 per report, which a run of one seed per grid point does not give."""
    from case_studies import get_case_study

    assert saved["settings"] == ["seeds=1"] and saved["seed"] == 0
    lrs = list(get_case_study("mup").presets["quick"].lrs)
    index = {p: [lrs.index(lr) for lr in saved["best_lr"][p]] for p in ("mup", "standard")}
    prose = " ".join((ROOT / "docs" / "case_studies" / "mup.md").read_text().split())
    assert re.search(r"\(run seed 0: ([\d, ]+);", prose)[1] == ", ".join(map(str, index["mup"]))
    assert "Under SP they drift from index 4–5 at width 32 to 0 at width 512 in every run seed." in prose
    assert index["standard"][0] in (4, 5) and index["standard"][-1] == 0
