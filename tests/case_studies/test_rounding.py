"""The CPU fingerprint that decides where a page's seed-0 digits are compared."""

import os
import subprocess
import sys

import pytest
import torch

import rounding
from helpers import ROOT


def test_the_fingerprint_is_sixteen_hex_digits_and_the_same_on_every_call():
    first = rounding.fingerprint()
    assert len(first) == 16 and int(first, 16) >= 0
    assert rounding.fingerprint() == first


def test_the_fingerprint_sees_torch_s_kernels_change():
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this CPU runs torch's unvectorised kernels already")
    code = "import sys; sys.path.insert(0, 'tests/case_studies'); sys.path.insert(0, 'tests'); import rounding; print(rounding.fingerprint())"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE", "OMP_NUM_THREADS": "1"}
    scalar = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert scalar.returncode == 0, scalar.stderr
    assert scalar.stdout.strip() != rounding.fingerprint()


def test_a_page_check_runs_on_a_reference_cpu_and_skips_elsewhere_naming_the_fingerprint(monkeypatch):
    here = rounding.fingerprint()
    monkeypatch.setattr(rounding, "REFERENCE", {"case_studies/x.md": frozenset({here}), "case_studies/y.md": frozenset({"0" * 16})})
    rounding.require_reference_rounding("case_studies/x.md")  # no skip
    with pytest.raises(pytest.skip.Exception, match=f"case_studies/y.md .*fingerprint {here}, reference 0000000000000000"):
        rounding.require_reference_rounding("case_studies/y.md")
    with pytest.raises(pytest.skip.Exception, match=f"case_studies/z.md .*fingerprint {here}, reference not recorded"):
        rounding.require_reference_rounding("case_studies/z.md")  # each page has its own CPUs
