"""Case studies: one module per study, each registering itself with :func:`case_studies.base.register`."""

from case_studies.base import CASE_STUDIES, CaseStudy, case_study_names, get_case_study, register, run_case_study

__all__ = ["CASE_STUDIES", "CaseStudy", "case_study_names", "get_case_study", "register", "run_case_study"]
