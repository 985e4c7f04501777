"""Ground truth the tasks hand to analysis: the hierarchy's SVD with shuffled labels and scaled features,
the linear teacher's random singular vectors, and the tanh teacher's weight scales."""

import numpy as np
import pytest
import torch

from bridge.tasks import HierarchyConfig, LinearTeacherConfig, TeacherMLPConfig, make_task


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_hierarchy_info_is_an_svd_of_its_teacher(shuffle):
    data = make_task(HierarchyConfig(depth=3, branching=2, shuffle_labels=shuffle), seed=1)
    u, s, v, teacher = (data.info[k].double() for k in ("U", "S", "V", "teacher"))
    eye = torch.eye(8, dtype=torch.float64)
    torch.testing.assert_close(u.T @ u, eye, atol=1e-6, rtol=0)
    torch.testing.assert_close(v.T @ v, eye, atol=1e-6, rtol=0)
    torch.testing.assert_close(u @ torch.diag(s) @ v.T, teacher, atol=1e-6, rtol=0)
    torch.testing.assert_close(data.train.y.double().T / 8**0.5, teacher, atol=1e-6, rtol=0)  # Σyx = Yᵀ X / n with X = √n I
    dense = np.linalg.svd(teacher.numpy(), compute_uv=False)
    np.testing.assert_allclose(np.sort(s.numpy())[::-1], dense, rtol=1e-6)
    if shuffle:  # shuffling the items moves the data away from the tree, not its singular values
        plain = make_task(HierarchyConfig(depth=3, branching=2), seed=1)
        torch.testing.assert_close(data.info["S"], plain.info["S"])
        assert not torch.equal(data.train.y, plain.train.y)


def test_the_hierarchy_feature_scale_multiplies_targets_and_singular_values():
    one, three = (make_task(HierarchyConfig(depth=2, branching=3, feature_scale=c), seed=0) for c in (1.0, 3.0))
    torch.testing.assert_close(three.train.y, 3 * one.train.y)
    torch.testing.assert_close(three.info["S"], 3 * one.info["S"])
    torch.testing.assert_close(three.info["teacher"], 3 * one.info["teacher"])
    torch.testing.assert_close(three.info["V"], one.info["V"])


def test_the_linear_teachers_singular_vectors_take_either_sign():
    """Haar-distributed: the first entry of a singular vector is as often negative as positive."""
    firsts = []
    for seed in range(24):
        info = make_task(LinearTeacherConfig((2.0, 1.0), d_in=5, d_out=4), seed=seed).info
        torch.testing.assert_close(info["U"].T @ info["U"], torch.eye(2), atol=1e-5, rtol=0)
        firsts.append((float(info["U"][0, 0]), float(info["V"][0, 0]), float(info["U"][0, 1])))
    signs = np.sign(np.array(firsts))
    assert (signs > 0).sum(0).min() >= 6 and (signs < 0).sum(0).min() >= 6, signs.sum(0)


def test_the_tanh_teachers_weights_have_the_documented_scales():
    cfg = TeacherMLPConfig(d_in=16, n_train=32, n_test=0, width=256, scale=3.0, d_out=2)
    info = make_task(cfg, seed=0).info
    assert float(info["W1"].std()) == pytest.approx(3.0 / 16**0.5, rel=0.05)  # N(0, scale²/d)
    assert float(info["W2"].std()) == pytest.approx(1.0 / 256**0.5, rel=0.1)  # N(0, 1/width)
