"""Gradient baselines as context saliency: VG equals a hand-written autograd gradient, IG is
complete, SG uses the paper's noise, all three are zero inside the request."""
import captum.attr
import pytest
import torch
import torch.nn as nn

from mmseg_bias.saliency import GradientSaliency

S = 24


class Net(nn.Module):
    """A smooth random conv net (tanh) with 3 classes and a global context path."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.head = nn.Conv2d(6, 3, 3, padding=1)
        self.context = nn.Linear(6, 3)
        for p in self.parameters():
            p.data = 0.3 * torch.randn(p.shape, generator=g)

    def forward(self, x):
        feat = torch.tanh(self.stem(x))
        return self.head(feat) + 3 * self.context(feat.mean((2, 3)))[:, :, None, None]


def mask(top, left, h, w):
    m = torch.zeros(S, S, dtype=torch.bool)
    m[top:top + h, left:left + w] = True
    return m


@pytest.fixture(scope='module')
def setup():
    images = torch.rand(2, 3, S, S, generator=torch.Generator().manual_seed(1))
    images[1] = 0.2 + 0.5 * images[1]                 # another range: another SG noise std
    requests = [(0, 1, mask(4, 4, 8, 10)), (1, 2, mask(10, 6, 9, 9)), (0, 0, mask(12, 12, 6, 6))]
    return Net(), images, requests


def hand_score(model, x, cls, m):
    prob = torch.softmax(model(x), 1)[0, cls]
    return (prob * m).sum() / m.sum()


def test_vanilla_gradient_equals_a_hand_autograd_gradient(setup):
    model, images, requests = setup
    maps, diags = GradientSaliency(model, 'vg').attribute(images, requests)
    for (i, cls, m), got, d in zip(requests, maps, diags):
        x = images[i:i + 1].clone().requires_grad_()
        score = hand_score(model, x, cls, m.float())
        grad, = torch.autograd.grad(score, x)
        expected = grad[0].abs().sum(0) * ~m
        assert torch.allclose(got, expected, atol=1e-7, rtol=1e-5)
        assert d['score'] == pytest.approx(score.item(), abs=1e-6) and d['method'] == 'vg'
    assert all(p.grad is None for p in model.parameters())


def test_integrated_gradients_are_complete(setup):
    model, images, requests = setup
    raw, _ = GradientSaliency(model, 'ig').attribute(images, requests, reduce=False)
    assert raw.shape == (3, 3, S, S)
    for (i, cls, m), attr in zip(requests, raw):
        with torch.no_grad():
            gap = hand_score(model, images[i:i + 1], cls, m.float()) - \
                hand_score(model, torch.zeros_like(images[i:i + 1]), cls, m.float())
        assert abs(float(gap)) > 1e-3
        assert float(attr.sum()) == pytest.approx(float(gap), rel=0.02, abs=1e-4)


def test_captum_gets_the_paper_settings(setup, monkeypatch):
    model, images, requests = setup
    seen = []
    for cls in (captum.attr.IntegratedGradients, captum.attr.NoiseTunnel):
        original = cls.attribute

        def spy(self, *args, _original=original, **kwargs):
            seen.append(kwargs)
            return _original(self, *args, **kwargs)
        monkeypatch.setattr(cls, 'attribute', spy)
    GradientSaliency(model, 'ig').attribute(images, requests)
    assert [k['n_steps'] for k in seen] == [25]             # one call: all requests batched
    seen.clear()
    GradientSaliency(model, 'sg').attribute(images, requests)
    ranges = [float(images[i].max() - images[i].min()) for i in range(2)]
    assert sorted(k['stdevs'] for k in seen) == pytest.approx(sorted(0.15 * r for r in ranges))
    assert all(k['nt_samples'] == 25 and k['nt_type'] == 'smoothgrad' for k in seen)


@pytest.mark.parametrize('method', ['vg', 'ig', 'sg'])
def test_maps_are_context_only_and_reproducible(setup, method):
    model, images, requests = setup
    with torch.no_grad():      # as inside an mmengine test loop
        maps, diags = GradientSaliency(model, method).attribute(images, requests)
    again, _ = GradientSaliency(model, method).attribute(images, requests)
    assert maps.shape == (3, S, S) and (maps >= 0).all()
    for (_, _, m), got, d in zip(requests, maps, diags):
        assert (got[m] == 0).all() and got[~m].sum() > 0
        assert d['valid'] and not d['empty'] and not d['empty_mask_won']
    assert torch.allclose(maps, again)
    assert all(p.requires_grad for p in model.parameters())


def test_bad_method_is_refused():
    with pytest.raises(ValueError, match="method must be one of"):
        GradientSaliency(Net(), 'gradcam')
