"""Implicit background (IBE) heads and the sigmoid cross-entropy (SCrIBE) loss."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_bias  # noqa: F401
from mmseg_bias.models.heads import implicit_background_logits

init_default_scope('mmseg')
K = 4


def build_ibe(compose='before_resize', background_index=0, **kwargs):
    return MODELS.build(dict(type='ImplicitBackgroundHead', base_type='FCNHead', num_classes=K,
                             in_channels=3, channels=6, num_convs=1, concat_input=False,
                             dropout_ratio=0.0, norm_cfg=dict(type='BN'), compose=compose,
                             background_index=background_index, **kwargs))


@pytest.mark.parametrize('background_index', [0, 2])
def test_background_probabilities_from_foreground_logits(background_index):
    torch.manual_seed(0)
    fg = torch.randn(2, K - 1, 5, 5)
    logits = implicit_background_logits(fg, background_index)
    assert logits.shape == (2, K, 5, 5)
    s = fg.exp().sum(1)
    torch.testing.assert_close(logits.softmax(1)[:, background_index], 1 / (1 + s**2))
    torch.testing.assert_close(logits[:, background_index].sigmoid(), 1 / (1 + s))
    others = [i for i in range(K) if i != background_index]
    torch.testing.assert_close(logits[:, others], fg)


def test_ibe_head_outputs_k_channels_and_trains():
    torch.manual_seed(0)
    head = build_ibe().train()
    assert head.conv_seg.out_channels == K - 1 and head.num_classes == K
    inputs = [torch.randn(2, 3, 8, 8)]
    logits = head(inputs)
    assert logits.shape == (2, K, 8, 8)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, K, (1, 16, 16))))
               for _ in range(2)]
    losses = head.loss_by_feat(logits, samples)
    losses['loss_ce'].backward()
    assert head.conv_seg.weight.grad.abs().sum() > 0
    assert torch.isfinite(head.conv_seg.weight.grad).all()


def test_compose_after_resize_applies_logsumexp_on_upsampled_logits():
    torch.manual_seed(0)
    head = build_ibe(compose='after_resize').eval()
    inputs = [torch.randn(1, 3, 8, 8)]
    fg = head(inputs)
    assert fg.shape == (1, K - 1, 8, 8)
    meta = [dict(img_shape=(16, 16), pad_shape=(16, 16))]
    out = head.predict_by_feat(fg, meta)
    up = F.interpolate(fg, size=(16, 16), mode='bilinear', align_corners=False)
    torch.testing.assert_close(out, implicit_background_logits(up, 0))


def test_ibe_bad_options():
    with pytest.raises(ValueError, match='background_index'):
        build_ibe(background_index=K)
    with pytest.raises(ValueError, match='compose'):
        build_ibe(compose='sometimes')


def _bce_by_hand(logits, label, valid):
    total, count = 0.0, 0
    for b, i, j in zip(*torch.where(valid)):
        for k in range(logits.shape[1]):
            z, y = logits[b, k, i, j].item(), float(label[b, i, j] == k)
            p = 1 / (1 + torch.exp(torch.tensor(-z))).item()
            total += -(y * torch.log(torch.tensor(p)) + (1 - y) * torch.log(torch.tensor(1 - p)))
            count += 1
    return total / count


def test_sigmoid_ce_matches_a_hand_computation_in_both_ignore_modes():
    torch.manual_seed(0)
    logits = torch.randn(1, K, 3, 3)
    label = torch.randint(0, K, (1, 3, 3))
    label[0, 0, :2] = 255
    excluded = MODELS.build(dict(type='SigmoidCrossEntropyLoss'))
    expected = _bce_by_hand(logits, label, label != 255)
    torch.testing.assert_close(excluded(logits, label, ignore_index=255), expected.float())
    as_bg = MODELS.build(dict(type='SigmoidCrossEntropyLoss', ignore_as_background=True,
                              background_index=2, loss_weight=2.0))
    label_bg = label.masked_fill(label == 255, 2)
    expected_bg = 2.0 * _bce_by_hand(logits, label_bg, torch.ones_like(label, dtype=torch.bool))
    torch.testing.assert_close(as_bg(logits, label, ignore_index=255), expected_bg.float())


def test_sigmoid_ce_class_weights_and_errors():
    logits = torch.zeros(1, K, 2, 2, requires_grad=True)
    label = torch.zeros(1, 2, 2, dtype=torch.long)
    weighted = MODELS.build(dict(type='SigmoidCrossEntropyLoss', class_weight=[2.0, 1, 1, 1]))
    plain = MODELS.build(dict(type='SigmoidCrossEntropyLoss'))
    # all channels have logit 0: BCE = log 2 each; channel 0 doubled -> mean (2+1+1+1)/4 * log 2
    torch.testing.assert_close(weighted(logits, label), torch.tensor(1.25 * 0.6931472))
    torch.testing.assert_close(plain(logits, label), torch.tensor(0.6931472))
    weighted(logits, label).backward()
    assert logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='out of range'):
        plain(logits, torch.full((1, 2, 2), 7))
    with pytest.raises(ValueError, match='loss_'):
        MODELS.build(dict(type='SigmoidCrossEntropyLoss', loss_name='scribe'))


def test_scribe_head_and_loss_together():
    head = build_ibe(loss_decode=dict(type='SigmoidCrossEntropyLoss', loss_name='loss_scribe'))
    logits = head.train()([torch.randn(2, 3, 8, 8)])
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.randint(0, K, (1, 8, 8))))
               for _ in range(2)]
    losses = head.loss_by_feat(logits, samples)
    assert set(losses) == {'loss_scribe', 'acc_seg'}
    losses['loss_scribe'].backward()
