"""How far a case study's result reaches: over seeds (:mod:`~case_studies.generality.seeds`) and over
neighbouring configurations of its preset (:mod:`~case_studies.generality.robustness`), and beyond its
training steps (:mod:`~case_studies.generality.budget`: until the phenomenon appears). Their outputs are read back
without re-analysing a run by :func:`load_seed_report`, :func:`load_robustness` and :func:`load_universality`.

Examples:
    >>> from case_studies.generality import parse_seeds
    >>> parse_seeds("0-2")
    [0, 1, 2]
"""

from case_studies.generality.budget import run_until
from case_studies.generality.load import load_seed_report, seed_runs
from case_studies.generality.robustness import Neighbour, neighbours, run_robustness
from case_studies.generality.seeds import SeedReport, parse_seeds, run_seeds
from case_studies.generality.tables import RobustnessTable, WidthsRecord, load_robustness, load_universality

__all__ = [
    "Neighbour", "RobustnessTable", "SeedReport", "WidthsRecord", "load_robustness", "load_seed_report", "load_universality",
    "neighbours", "parse_seeds", "run_robustness", "run_seeds", "run_until", "seed_runs",
]
