"""Seed-pinned figures of trained models, each with the tolerance it holds to across machines.

The same seed trains to numbers that differ across CPUs in their last digits (the order of float
reductions in BLAS differs between CPUs), and a sharp transition can amplify the difference. The
tests assert each case study's claims (its targets, unchanged); the seed-specific figures they
check besides are all here, each with a named tolerance and where that tolerance comes from:

* seed spread: the range over seeds quoted on the case study's docs page;
* cross-machine difference: the same seed measured on two CPUs.

A discrete fact (which head, which check fails) is pinned with the margin of the number that decides it.
"""

# --- induction-heads, preset quick (SGD with momentum, warm-up and clipping, rotary positions), seed 0 ------
# Cross-machine differences below were measured at seed 0 of the same model and task trained without warm-up
# and clipping, on two CPUs; the seed spreads are those of seeds 0-4 of this preset.

# Mean-ablating the previous-token head: increase of the repeated-token loss (nats).
# Seed 0: 3.51; seeds 0-4: 3.38-3.76. Cross-machine difference of this figure: 0.08.
QUICK_PREV_ABLATION_NATS = 3.6
QUICK_PREV_ABLATION_NATS_TOL = 0.2  # 2.5x the cross-machine difference; seed 0 is 0.09 below the centre

# Layer-0 previous-token reach (the last query up to which the summed previous-token attention stays >= 0.5):
# the end of the context in seeds 0-4. Seed 0's L0H1 attention at queries 20-31 is 0.57-0.59 (0.07 above the
# level, nearly twice the largest cross-machine difference of an attention figure here, 0.04).
QUICK_REACH = 31

# Off-position set: the induction head's attention to the key it needs, pooled over the keys inside the reach
# (every key, with rotary positions). Seed 0: 0.80; seeds 0-4: 0.78-0.88. Cross-machine difference: 0.04.
QUICK_OFF_COVERED = 0.80
QUICK_OFF_COVERED_TOL = 0.06  # 1.5x the cross-machine difference

# --- induction-heads, preset quick-adamw (AdamW, learned positions), seed 0 --------------------------------
# Seed 0 of this preset trains to the same figures on both CPUs to the second decimal; the tolerances below
# come from the seed spread or from the quick preset's cross-machine differences, the larger.

# Layer-0 previous-token reach: 19 for seed 0 (both CPUs), 18–19 over seeds 0–9.
ADAMW_REACH_RANGE = (17, 20)  # the ten-seed range widened by its own width (one position) either side

# Off-position set, the induction head's attention to its key inside / beyond the reach:
# seed 0: 0.89 / 0.00 (both CPUs); seeds 0–9: 0.83–0.93 / 0.00.
ADAMW_OFF_COVERED_MIN = 0.8  # below every seed of ten; seed 0 is 0.09 above it, twice the largest cross-machine difference (0.04)
ADAMW_OFF_UNCOVERED_MAX = 0.1  # above every seed of ten by more than twice the largest cross-machine difference

# The smallest set of layer-0 heads meeting both ablation targets: L0H2 alone for seed 0 (the only seed of
# ten with one dominant previous-token head). Decided by its max layer-1 induction score when ablated,
# 0.20 against < 0.3: a margin of 0.10, five times the largest cross-machine difference of an induction
# score (0.021: quick seed 0's off-position score, 0.893 on one CPU and 0.872 on another).
ADAMW_SEED0_SMALLEST_SET = [[0, 2]]

# Final off-position induction score of the induction head: 0.824 for seed 0 on both CPUs, below the 0.85
# target (seeds 0–9: 0.812–0.861, four of ten above), so seed 0's report fails on it.
ADAMW_SEED0_OFF_POSITION = 0.824
ADAMW_SEED0_OFF_POSITION_TOL = 0.03  # 1.5× the largest cross-machine difference of an induction score (0.021)

# --- induction-heads, both presets, seed 0 ------------------------------------------------------------------

# Mean-ablating all four layer-0 heads costs about the most of any set of layer-0 heads: it may fall short of
# the costliest set by this many nats. Measured shortfall: 0.10 (quick), 0.01 (quick-adamw); plus twice the
# cross-machine difference of an ablation figure (0.08 nats): 0.26, rounded up.
LAYER0_ALL_SHORTFALL_NATS = 0.3

# --- grokking, preset quick, seed 0: nothing pinned ---------------------------------------------------------
# Two of its rows sit near a tolerance and are not pinned: the restricted/test half-drop lag (information; 0.478,
# 0.529 and 0.582 on three CPUs against 0.5) and the W_E Gini lag (a claim; 0.525 against 0.5). The end-to-end
# test asserts the rows far from their targets and that only the sweep exponent and the Gini lag may fail.
