"""How far a case study's result reaches: over seeds (:mod:`~case_studies.generality.seeds`) and over
neighbouring configurations of its preset (:mod:`~case_studies.generality.robustness`), and beyond its
training steps (:mod:`~case_studies.generality.budget`: until the phenomenon appears). Their outputs are read back
without re-analysing a run by :func:`load_seed_report`, :func:`load_robustness` and :func:`load_universality`.

Names load on first use.

Examples:
    >>> from case_studies.generality import parse_seeds
    >>> parse_seeds("0-2")
    [0, 1, 2]
"""

from typing import TYPE_CHECKING

from bridge.registry import lazy_exports

_EXPORTS = {
    "Neighbour": "case_studies.generality.robustness",
    "RobustnessTable": "case_studies.generality.tables",
    "SeedReport": "case_studies.generality.seeds",
    "WidthsRecord": "case_studies.generality.tables",
    "load_robustness": "case_studies.generality.tables",
    "load_seed_report": "case_studies.generality.load",
    "load_universality": "case_studies.generality.tables",
    "neighbours": "case_studies.generality.robustness",
    "parse_seeds": "case_studies.generality.seeds",
    "run_robustness": "case_studies.generality.robustness",
    "run_seeds": "case_studies.generality.seeds",
    "run_until": "case_studies.generality.budget",
    "seed_runs": "case_studies.generality.load",
}

if TYPE_CHECKING:  # what each lazy name is, for a type checker (a module __getattr__ would read as Any)
    from case_studies.generality.budget import run_until as run_until
    from case_studies.generality.load import load_seed_report as load_seed_report
    from case_studies.generality.load import seed_runs as seed_runs
    from case_studies.generality.robustness import Neighbour as Neighbour
    from case_studies.generality.robustness import neighbours as neighbours
    from case_studies.generality.robustness import run_robustness as run_robustness
    from case_studies.generality.seeds import SeedReport as SeedReport
    from case_studies.generality.seeds import parse_seeds as parse_seeds
    from case_studies.generality.seeds import run_seeds as run_seeds
    from case_studies.generality.tables import RobustnessTable as RobustnessTable
    from case_studies.generality.tables import WidthsRecord as WidthsRecord
    from case_studies.generality.tables import load_robustness as load_robustness
    from case_studies.generality.tables import load_universality as load_universality

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)  # names load on first use: `mechbridge report` reads a stored report without numpy
__all__ = sorted(_EXPORTS)
