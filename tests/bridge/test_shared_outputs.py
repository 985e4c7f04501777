"""Work done once instead of twice gives the numbers of doing it twice: trackers sharing one forward
pass inside a tracked step give the rows each gives alone, and an output is never reused after a weight
changes or with autograd on."""

import torch

from bridge.models import TransformerConfig, build_model
from bridge.tasks import RepeatedTokensConfig, make_task
from bridge.trackers import InContextTracker, LossTracker
from bridge.trackers.base import TrackingBuffer, model_output, shared_outputs


class Counted(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x):
        self.calls += 1
        return self.model(x)


def test_the_loss_and_in_context_trackers_share_the_test_forward_and_give_their_own_rows():
    data = make_task(RepeatedTokensConfig(d_vocab=16, n_ctx=12, n_train=16, n_test=8, n_off=8, prefix=(0, 2), block=(3, 5), off_prefix=(3, 4), off_block=(3, 4)), seed=0)
    model = Counted(build_model(TransformerConfig(d_vocab=16, n_ctx=12, d_model=16, n_heads=2, d_head=8, n_layers=2, d_mlp=None), seed=0))
    trackers = [LossTracker(max_examples=8), InContextTracker(n_eval=8, window=4)]
    alone = [row for t in trackers for row in t(model, 0, data)]
    assert model.calls == 4  # train and test; test and off
    buffer = TrackingBuffer(trackers, data)
    buffer.track(model, 0)
    assert model.calls == 4 + 3  # the test split once
    assert [{k: v for k, v in r.items() if k != "step"} for r in buffer.flush()] == alone


def test_a_shared_output_is_recomputed_after_a_weight_changes_and_never_with_autograd_on():
    net, x = Counted(torch.nn.Linear(3, 2)), torch.ones(4, 3)
    with shared_outputs():
        with torch.no_grad():
            first = model_output(net, x)
            assert model_output(net, x[:4]) is first and net.calls == 1  # the same examples through another view
            assert model_output(net, x[:3]) is not first and net.calls == 2
            net.model.weight.add_(1.0)
            assert not torch.equal(model_output(net, x), first) and net.calls == 3
        model_output(net, x)
        assert net.calls == 4
    with torch.no_grad():
        model_output(net, x), model_output(net, x)
    assert net.calls == 6
