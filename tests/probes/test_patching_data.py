"""Clean / corrupted pairs for patching on repeated-token sequences."""

import pytest
import torch

from bridge.seeding import derive_seed, generator
from bridge.tasks import make_task
from bridge.tasks.repeated_tokens import RepeatedTokensConfig, corrupt_first_copy, repeated_targets, seen_before
from probes import corrupted_pair, repeated_pairs


def test_repeated_pairs_break_the_repeat_and_keep_the_clean_half():
    pair = repeated_pairs(6, block=5, d_vocab=20, seed=3)
    assert pair.clean.shape == pair.corrupted.shape == pair.changed.shape == (6, 10)
    assert torch.equal(pair.clean[:, :5], pair.clean[:, 5:])
    assert torch.equal(pair.corrupted[:, 5:], pair.clean[:, 5:])  # the predicted copy is untouched
    assert bool((pair.corrupted[:, :5] != pair.clean[:, :5]).all())  # every first-copy token replaced
    assert pair.changed[:, :5].all() and not pair.changed[:, 5:].any()
    assert not seen_before(pair.corrupted).any()  # no repeat left and none created
    assert int(repeated_targets(pair.clean).sum()) == 6 * 4 and not repeated_targets(pair.corrupted).any()
    assert torch.equal(pair.broken, repeated_targets(pair.clean))
    later = repeated_pairs(6, block=5, d_vocab=20, seed=3, copy="later")
    assert torch.equal(later.clean, pair.clean) and torch.equal(later.corrupted[:, :5], pair.clean[:, :5])
    assert bool((later.corrupted[:, 5:] != pair.clean[:, 5:]).all()) and not seen_before(later.corrupted).any()


def test_seeded_determinism():
    a, b, c = (repeated_pairs(4, block=3, d_vocab=12, seed=s) for s in (0, 0, 1))
    assert torch.equal(a.clean, b.clean) and torch.equal(a.corrupted, b.corrupted)
    assert not torch.equal(a.clean, c.clean)
    tokens = a.clean
    assert not torch.equal(corrupted_pair(tokens, 12, 0).corrupted, corrupted_pair(tokens, 12, 5).corrupted)


def test_first_copy_pair_equals_the_case_study_corruption():
    data = make_task(RepeatedTokensConfig(d_vocab=32, n_ctx=16, n_train=4, n_test=12, prefix=(0, 3), block=(3, 5), off_prefix=(4, 5), off_block=(3, 5)), seed=1)
    tokens = data.test.x
    pair = corrupted_pair(tokens, 32, seed=7)
    assert torch.equal(pair.corrupted, corrupt_first_copy(tokens, 32, generator(derive_seed(7, "corrupt"))))
    assert torch.equal(pair.clean, tokens)
    assert torch.equal(pair.changed, pair.corrupted != tokens) and pair.changed.any()
    assert torch.equal(pair.broken, repeated_targets(tokens) & ~repeated_targets(pair.corrupted)) and pair.broken.any()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="copy must be"):
        corrupted_pair(torch.tensor([[1, 2, 1, 2]]), 8, 0, copy="second")
    with pytest.raises(ValueError, match="2-D integer"):
        corrupted_pair(torch.tensor([1, 2, 1, 2]), 8, 0)
    with pytest.raises(ValueError, match=r"\[0, d_vocab=4\)"):
        corrupted_pair(torch.tensor([[1, 5, 1, 5]]), 4, 0)
    with pytest.raises(ValueError, match="too few unused"):
        corrupted_pair(torch.tensor([[0, 1, 2, 0, 1, 2]]), 4, 0)
    with pytest.raises(ValueError, match="at least 2 \\* block"):
        repeated_pairs(2, block=5, d_vocab=8, seed=0)
    for n, block in ((0, 3), (2, 0)):
        with pytest.raises(ValueError, match=rf"n and block must be >= 1, got n={n}, block={block}"):
            repeated_pairs(n, block=block, d_vocab=8, seed=0)
