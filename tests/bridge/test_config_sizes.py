"""Configs whose sizes are counted before they are accepted (tree items, subsets of bits, a prime modulus) are
judged at once for any 64-bit size: a refusal names the field without printing a number too long to print."""

import subprocess
import sys
import textwrap

import pytest

from bridge.config import ConfigError
from helpers import timeout


def test_a_hierarchy_of_too_many_items_is_refused_without_printing_their_count():
    from bridge.tasks import HierarchyConfig

    with pytest.raises(ConfigError, match=r"^hierarchy\.branching\*\*depth = 2\*\*20000 items, more than 4096$"):
        HierarchyConfig(depth=20000)
    with pytest.raises(ConfigError, match=r"^hierarchy\.branching\*\*depth = 8192 items, more than 4096$"):
        HierarchyConfig(depth=13)
    with pytest.raises(ConfigError, match=r"^hierarchy\.branching\*\*depth = 4097 items, more than 4096$"):
        HierarchyConfig(depth=1, branching=4097)
    assert HierarchyConfig(depth=12).depth == 12 and HierarchyConfig(depth=2, branching=64).branching == 64 and HierarchyConfig(depth=1, branching=4096).branching == 4096


HUGE = """
from bridge.config import ConfigError
from bridge.tasks import HierarchyConfig, ModularConfig, SparseParityConfig

for make in (lambda: HierarchyConfig(depth=2**40), lambda: HierarchyConfig(branching=2**62, depth=2**62), lambda: ModularConfig(p=2**61 + 1)):
    try:
        make()
    except ConfigError as e:
        print(e)
print(ModularConfig(p=2**61 - 1).p, SparseParityConfig(n_tasks=5, n_bits=2**40, k_bits=2**39).n_bits)
"""


def test_configs_with_sizes_near_the_64_bit_limit_are_judged_at_once():
    """A modulus's primality, a count of subsets or of tree items, for sizes up to 2**62: no search through them."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(HUGE)], capture_output=True, text=True, timeout=timeout(10))
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.splitlines() == [
        "hierarchy.branching**depth = 2**1099511627776 items, more than 4096",
        f"hierarchy.branching**depth = {2**62}**{2**62} items, more than 4096",
        f"modular.p must be a prime, got {2**61 + 1}",
        f"{2**61 - 1} {2**40}",
    ]
