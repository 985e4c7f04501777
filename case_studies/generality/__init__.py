"""How far a case study's result reaches: over seeds (:mod:`~case_studies.generality.seeds`) and over
neighbouring configurations of its preset (:mod:`~case_studies.generality.robustness`), and beyond its
training steps (:mod:`~case_studies.generality.budget`: until the phenomenon appears).

Examples:
    >>> from case_studies.generality import parse_seeds
    >>> parse_seeds("0-2")
    [0, 1, 2]
"""

from case_studies.generality.budget import run_until
from case_studies.generality.robustness import Neighbour, neighbours, run_robustness
from case_studies.generality.seeds import SeedReport, parse_seeds, run_seeds

__all__ = ["Neighbour", "SeedReport", "neighbours", "parse_seeds", "run_robustness", "run_seeds", "run_until"]
