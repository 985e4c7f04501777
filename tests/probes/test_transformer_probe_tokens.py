"""The transformer probes that run a model on token sequences refuse sequences the model cannot read, by the
argument's name and value, before any forward pass: float ids, ids outside the vocabulary, a 1-D sequence (the
bridge read it as a batch of one), a 3-D batch, no sequence, more positions than the context, tokens on another
device. A refusal leaves no hook attached and every module's mode as it was; sequences the model reads (lengths
1 and 2, int32 ids, a batch of one) still give the probes' values."""

import pytest
import torch

from bridge.models import TransformerConfig, build_model
from bridge.tasks.repeated_tokens import repeated_token_loss
from other_device import OTHER, other_device
from probes import ablation_effects, attention_patterns, head_graph, head_scores, patch_heads, path_patch_keys, path_patch_matrix
from probes.induction import final_causal, previous_token_coverage
from probes.patching import hook_count, mean_head_outputs

CFG = TransformerConfig(d_vocab=8, n_ctx=6, d_model=12, n_heads=3, d_head=5, n_layers=2, d_mlp=None)
GOOD = torch.tensor([[1, 2, 3, 1, 2, 3]])
INFO = {"train_prefix": torch.tensor([0]), "train_period": torch.tensor([3])}
BAD = {  # tokens -> what the message says
    "float": (GOOD.float(), r"must be integer token ids, got dtype torch.float32"),
    "bool": (GOOD > 1, r"must be integer token ids, got dtype torch.bool"),
    "above the vocabulary": (GOOD + 5, r"must be token ids in \[0, d_vocab=8\), got ids in \[6, 8\]"),
    "negative": (GOOD - 2, r"must be token ids in \[0, d_vocab=8\), got ids in \[-1, 1\]"),
    "1-D": (GOOD[0], r"must be \(batch, pos\) token ids, got shape \(6,\)"),
    "3-D": (GOOD[None], r"must be \(batch, pos\) token ids, got shape \(1, 1, 6\)"),
    "no sequence": (GOOD[:0], r"must be \(batch, pos\) token ids, got shape \(0, 6\)"),
    "longer than n_ctx": (torch.tensor([[1, 2, 3, 1, 2, 3, 1]]), r"must hold 1 to n_ctx=6 positions, got shape \(1, 7\)"),
    "list": ([[1, 2, 3]], r"must be a \(batch, pos\) tensor of token ids, got list"),
}
CALLS = {  # probe -> (call with the bad tokens in one argument, that argument's name)
    "attention_patterns": [(lambda m, t: attention_patterns(m, t), "tokens")],
    "head_scores": [(lambda m, t: head_scores(m, t), "tokens")],
    "mean_head_outputs": [(lambda m, t: mean_head_outputs(m, t), "tokens")],
    "ablation_effects": [(lambda m, t: ablation_effects(m, t, repeated_token_loss), "tokens"), (lambda m, t: ablation_effects(m, GOOD, repeated_token_loss, "mean", reference=t), "reference")],
    "patch_heads": [(lambda m, t: patch_heads(m, t, GOOD, repeated_token_loss), "target"), (lambda m, t: patch_heads(m, GOOD, t, repeated_token_loss), "source")],
    "path_patch_matrix": [(lambda m, t: path_patch_matrix(m, t, GOOD, repeated_token_loss), "target"), (lambda m, t: path_patch_matrix(m, GOOD, t, repeated_token_loss), "source")],
    "path_patch_keys": [(lambda m, t: path_patch_keys(m, GOOD, t, repeated_token_loss, (0, 0), (1, 1)), "source")],
    "head_graph": [(lambda m, t: head_graph(m, t, GOOD, 0), "tokens"), (lambda m, t: head_graph(m, GOOD, t, 0), "corrupted")],
    "final_causal": [(lambda m, t: final_causal(m, {"test": GOOD, "off": t}, GOOD, 0, min_loss=0.1, max_induction=0.5), r"sets\['off'\]")],
    "previous_token_coverage": [(lambda m, t: previous_token_coverage(m, {"test": t}, INFO, 0), r"sets\['test'\]")],
}


@pytest.fixture(scope="module")
def model():
    return build_model(CFG, seed=0)


def _refused(model, call, name, tokens, message):
    model.train()
    model.blocks[0].eval()  # a mix of modes, kept as it is
    modes = [m.training for m in model.modules()]
    forwards = []
    handle = model.register_forward_pre_hook(lambda *_: forwards.append(1))
    try:
        with pytest.raises(ValueError, match=rf"^{name} {message}"):
            call(model, tokens)
    finally:
        handle.remove()
    assert forwards == []  # refused before the model ran
    assert hook_count(model) == 0 and [m.training for m in model.modules()] == modes


@pytest.mark.parametrize("bad", sorted(BAD))
@pytest.mark.parametrize("probe", sorted(CALLS))
def test_a_probe_refuses_tokens_the_model_cannot_read_by_name_before_running_it(model, probe, bad):
    tokens, message = BAD[bad]
    for call, name in CALLS[probe]:
        _refused(model, call, name, tokens, message)


@pytest.mark.parametrize("probe", ["attention_patterns", "patch_heads", "path_patch_matrix"])
def test_a_probe_refuses_tokens_on_another_device_than_the_model(model, probe):
    with other_device():
        tokens = GOOD.to(OTHER)
        for call, name in CALLS[probe]:
            _refused(model, call, name, tokens, r"must be on the model's device cpu, got lazy")


def test_sequences_of_one_and_two_positions_and_int32_ids_are_read_as_before(model):
    for tokens in (torch.tensor([[3]]), torch.tensor([[3, 3], [1, 2]]), GOOD.int()):
        patterns = attention_patterns(model, tokens)
        n = tokens.shape[1]
        assert patterns.shape == (2, len(tokens), 3, n, n)
        torch.testing.assert_close(patterns.sum(-1), torch.ones(2, len(tokens), 3, n), rtol=0, atol=1e-6)
        assert torch.equal(patterns.triu(1), torch.zeros_like(patterns))  # causal
    prev = head_scores(model, torch.tensor([[3, 3], [1, 2]]))["previous_token"]
    torch.testing.assert_close(prev, attention_patterns(model, torch.tensor([[3, 3], [1, 2]]))[:, :, :, 1, 0].mean(1), rtol=0, atol=1e-7)


def test_ablation_effects_refuses_an_unknown_mode_before_running_the_model(model):
    _refused(model, lambda m, t: ablation_effects(m, t, repeated_token_loss, mode="Mean"), "ablation mode", GOOD, r"must be one of \('zero', 'mean'\), got 'Mean'")
