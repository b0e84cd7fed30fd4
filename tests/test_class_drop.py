"""DropClass head: the gate, the loss terms, inference, and any head with a 1x1 classifier."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.models.decode_heads import ASPPHead, DepthwiseSeparableASPPHead, FCNHead
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_bias  # noqa: F401
from mmseg_bias.models.heads.class_drop import (ClassDropBlock, DropClassMixin, class_gate,
                                                pointwise_conv, pointwise_conv_pair)

init_default_scope('mmseg')
K, C = 5, 8
HEADS = {
    'FCNHead': dict(in_channels=6, channels=C, num_convs=1, concat_input=False),
    'ASPPHead': dict(in_channels=6, channels=C, dilations=(1, 2)),
    'DepthwiseSeparableASPPHead': dict(in_channels=6, channels=C, dilations=(1, 2),
                                       c1_in_channels=4, c1_channels=4, in_index=1),
}


def build_head(base_type='FCNHead', **kwargs):
    cfg = dict(type='DropClassHead', base_type=base_type, num_classes=K, norm_cfg=dict(type='BN'),
               dropout_ratio=0.0, **HEADS[base_type])
    cfg.update(kwargs)
    return MODELS.build(cfg)


def head_inputs(base_type, size=8, batch=2):
    if base_type == 'DepthwiseSeparableASPPHead':
        return [torch.randn(batch, 4, size * 2, size * 2), torch.randn(batch, 6, size, size)]
    return [torch.randn(batch, 6, size, size)]


def samples(labels):
    return [SegDataSample(gt_sem_seg=PixelData(data=label[None])) for label in labels]


def test_gate_equals_the_explicit_per_class_formulation_by_autograd():
    torch.manual_seed(0)
    head = build_head()
    feat = F.relu(torch.randn(2, C, 6, 6))  # A after the head's ReLU
    z = 2
    maps = []
    for c in range(K):
        a = feat.clone().requires_grad_(True)
        head.conv_seg(a)[:, c].sum().backward()
        saliency = a.grad  # S^c: gradient of class c's summed logit w.r.t. A
        if c != z:
            maps.append(F.relu(saliency * feat))
    explicit = torch.stack(maps).mean(0)
    gate = class_gate(head.conv_seg.weight, z)
    torch.testing.assert_close(feat * gate.view(1, -1, 1, 1), explicit)
    # and the block (gate folded into its conv weights; BN too in eval) is Conv1x1 -> BN -> ReLU
    block = head.class_drop
    with torch.no_grad():
        block.norm.running_mean.uniform_(-1, 1)
        block.norm.running_var.uniform_(0.5, 2)
        block.norm.weight.uniform_(0.5, 2)
    for mode in (True, False):
        block.train(mode)
        expected = F.relu(block.norm(block.conv(explicit)))
        torch.testing.assert_close(block(feat, gate), expected, rtol=1e-5, atol=1e-5)


def test_gate_without_drop_averages_all_classes():
    weight = torch.randn(K, C, 1, 1)
    torch.testing.assert_close(class_gate(weight), F.relu(weight.flatten(1)).mean(0))
    assert class_gate(weight, 0).shape == (C,)


def _loss_setup(head, progress, z, size=8):
    torch.manual_seed(1)
    head.train()
    head.progress, head.dropped_class = progress, z
    labels = torch.randint(0, K, (2, size, size))
    labels[:, 0, :] = 255
    logits, drop_logits = head(head_inputs('FCNHead', size))
    return labels, logits, drop_logits


def test_t0_only_the_first_ce_term_is_active():
    head = build_head()
    labels, logits, drop_logits = _loss_setup(head, 0.0, None)
    losses = head.loss_by_feat((logits, drop_logits), samples(labels))
    plain = FCNHead.loss_by_feat(head, logits, samples(labels))
    torch.testing.assert_close(losses['loss_ce'], plain['loss_ce'])
    assert losses['loss_ce_drop'].item() == 0.0
    assert losses['loss_suppress'].item() == 0.0
    assert losses['dropclass_lambda'].item() == 1.0 and losses['dropclass_z'].item() == -1
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        head.update_schedule(0.0, generator)
        assert head.dropped_class is None


def test_t1_ignores_z_in_the_second_ce_and_suppresses_z():
    head = build_head()
    z = 3
    labels, logits, drop_logits = _loss_setup(head, 1.0, z)
    drop_logits = drop_logits.detach().requires_grad_(True)
    losses = head.loss_by_feat((logits, drop_logits), samples(labels))
    assert losses['loss_ce'].item() == 0.0  # λ = 1 - t = 0
    assert losses['dropclass_z'].item() == z

    grad_ce, = torch.autograd.grad(losses['loss_ce_drop'], drop_logits, retain_graph=True)
    pixel_grad = grad_ce.abs().sum(1)  # (B, H, W): logits and labels share the resolution
    assert torch.all(pixel_grad[labels == z] == 0), 'pixels of z must be ignored in CE(h(A_drop))'
    assert torch.all(pixel_grad[(labels != z) & (labels != 255)] > 0)

    expected = 10.0 * drop_logits.softmax(1)[:, z].mean()
    torch.testing.assert_close(losses['loss_suppress'], expected)
    grad_sup, = torch.autograd.grad(losses['loss_suppress'], drop_logits)
    assert torch.all(grad_sup[:, z] > 0), 'a descent step must lower the logit of z'
    others = torch.cat([grad_sup[:, :z], grad_sup[:, z + 1:]], 1)
    assert torch.all(others <= 0)
    generator = torch.Generator().manual_seed(0)
    drawn = set()
    for _ in range(200):
        head.update_schedule(1.0, generator)
        drawn.add(head.dropped_class)
    assert drawn == set(range(K)), 'z is uniform over all classes and always dropped at t = 1'


def test_lambda_weights_and_loss_options_pass_through():
    loss_decode = dict(type='CrossEntropyLoss', class_weight=[1.0, 2.0, 0.5, 1.0, 3.0],
                       avg_non_ignore=True, loss_weight=1.0)
    head = build_head(loss_decode=loss_decode, alpha=4.0)
    labels, logits, drop_logits = _loss_setup(head, 0.25, 1)
    losses = head.loss_by_feat((logits, drop_logits), samples(labels))
    plain = FCNHead.loss_by_feat(head, logits, samples(labels))
    torch.testing.assert_close(losses['loss_ce'], 0.75 * plain['loss_ce'])
    labels_z = labels.masked_fill(labels == 1, 255)
    plain_drop = FCNHead.loss_by_feat(head, drop_logits, samples(labels_z))
    torch.testing.assert_close(losses['loss_ce_drop'], 0.25 * plain_drop['loss_ce'])
    torch.testing.assert_close(losses['loss_suppress'], 4.0 * drop_logits.softmax(1)[:, 1].mean())


def test_training_without_progress_asks_for_the_hook():
    head = build_head()
    labels, logits, drop_logits = _loss_setup(head, None, None)
    with pytest.raises(RuntimeError, match='DropClassProgressHook'):
        head.loss_by_feat((logits, drop_logits), samples(labels))


@pytest.mark.parametrize('base_type', sorted(HEADS))
def test_every_head_with_a_1x1_classifier(base_type):
    torch.manual_seed(0)
    head = build_head(base_type)
    assert isinstance(head, MODELS.get(base_type)) and isinstance(head, DropClassMixin)
    inputs = head_inputs(base_type)
    head.train()
    head.progress, head.dropped_class = 0.5, 0
    logits, drop_logits = head(inputs)
    assert logits.shape == drop_logits.shape and logits.shape[:2] == (2, K)
    feat = _classifier_input(head, inputs)
    head.train()
    torch.testing.assert_close(logits, head.conv_seg(feat))  # h(A): the stock classifier
    torch.testing.assert_close(drop_logits, head.conv_seg(head.class_drop(
        feat, class_gate(head.conv_seg.weight, 0))))  # h(A_drop) with the same classifier
    labels = torch.randint(0, K, (2, 32, 32))
    losses = head.loss_by_feat((logits, drop_logits), samples(labels))
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    assert head.class_drop.conv.weight.grad.abs().sum() > 0
    assert head.conv_seg.weight.grad.abs().sum() > 0

    head.eval()
    with torch.no_grad():
        out = head(inputs)
        feat = _classifier_input(head, inputs)
        kept = head.conv_seg(head.class_drop(feat, class_gate(head.conv_seg.weight)))
        torch.testing.assert_close(out, kept)  # inference goes through the block, nothing dropped
        head.inference_branch = 'plain'
        torch.testing.assert_close(head(inputs), head.conv_seg(feat))


@pytest.mark.parametrize('bias', [True, False])
def test_pointwise_conv_equals_conv2d_forward_and_backward(bias):
    torch.manual_seed(0)
    feat = torch.randn(3, 7, 5, 6, requires_grad=True)
    weight = torch.randn(4, 7, requires_grad=True)
    b = torch.randn(4, requires_grad=True) if bias else None
    grad = torch.randn(3, 4, 5, 6)
    out = pointwise_conv(feat, weight, b)
    grads = torch.autograd.grad(out, [t for t in (feat, weight, b) if t is not None], grad)
    ref = F.conv2d(feat, weight[..., None, None], b)
    ref_grads = torch.autograd.grad(ref, [t for t in (feat, weight, b) if t is not None], grad)
    torch.testing.assert_close(out, ref)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)


@pytest.mark.parametrize('bias', [True, False])
def test_pointwise_conv_pair_equals_two_convs_forward_and_backward(bias):
    torch.manual_seed(0)
    feat = torch.randn(2, 7, 5, 6, requires_grad=True)
    weight1, weight2 = torch.randn(4, 7, requires_grad=True), torch.randn(9, 7, requires_grad=True)
    b = torch.randn(4, requires_grad=True) if bias else None
    leaves = [t for t in (feat, weight1, b, weight2) if t is not None]
    grad1, grad2 = torch.randn(2, 4, 5, 6), torch.randn(2, 9, 5, 6)
    out1, out2 = pointwise_conv_pair(feat, weight1, b, weight2)
    grads = torch.autograd.grad([out1, out2], leaves, [grad1, grad2])
    ref1 = F.conv2d(feat, weight1[..., None, None], b)
    ref2 = F.conv2d(feat, weight2[..., None, None])
    ref_grads = torch.autograd.grad([ref1, ref2], leaves, [grad1, grad2])
    torch.testing.assert_close(out1, ref1)
    torch.testing.assert_close(out2, ref2)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r)
    # one output unused: its gradient counts as zero
    only2, = torch.autograd.grad(pointwise_conv_pair(feat, weight1, b, weight2)[1].sum(), [feat])
    torch.testing.assert_close(only2, weight2.sum(0).view(1, 7, 1, 1).expand_as(feat))


def test_pointwise_conv_pair_under_autocast():
    torch.manual_seed(0)
    feat = torch.randn(2, 7, 5, 6, requires_grad=True)
    weight1, weight2 = torch.randn(4, 7, requires_grad=True), torch.randn(9, 7, requires_grad=True)
    b = torch.randn(4, requires_grad=True)
    leaves = [feat, weight1, b, weight2]
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out1, out2 = pointwise_conv_pair(feat, weight1, b, weight2)
        ref1, ref2 = pointwise_conv(feat, weight1, b), pointwise_conv(feat, weight2)
    assert out1.dtype == out2.dtype == ref1.dtype == torch.bfloat16
    grads = torch.autograd.grad((out1.float() ** 2).sum() + out2.float().sum(), leaves)
    ref_grads = torch.autograd.grad((ref1.float() ** 2).sum() + ref2.float().sum(), leaves)
    torch.testing.assert_close(out1, ref1)
    torch.testing.assert_close(out2, ref2)
    for g, r, leaf in zip(grads, ref_grads, leaves):
        assert g.dtype == leaf.dtype == torch.float32
        torch.testing.assert_close(g, r, rtol=2e-2, atol=2e-2)


def test_training_path_with_dropout_before_the_classifier():
    torch.manual_seed(0)
    head = build_head('ASPPHead', dropout_ratio=0.5)
    inputs = head_inputs('ASPPHead')
    feat = _classifier_input(head, inputs)
    head.train()
    head.progress, head.dropped_class = 0.5, 2
    torch.manual_seed(7)
    logits, drop_logits = head(inputs)
    torch.manual_seed(7)  # the same dropout masks: h = conv_seg(dropout(.)), A_drop from A itself
    expected = head.conv_seg(head.dropout(feat))
    expected_drop = head.conv_seg(head.dropout(head.class_drop(feat, class_gate(
        head.conv_seg.weight, 2))))
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(drop_logits, expected_drop)
    assert not torch.equal(logits, head.conv_seg(feat)), 'dropout must act on h(A)'


def _classifier_input(head, inputs):
    """A: the feature map the head hands to its classifier (in the head's current mode)."""
    captured = []
    cls_seg = head.cls_seg

    def capturing_cls_seg(feat):
        captured.append(feat)
        return cls_seg(feat)

    head.cls_seg = capturing_cls_seg
    head(inputs)
    del head.cls_seg
    return captured[0]


@MODELS.register_module(force=True)
class _Conv3x3ClassifierHead(FCNHead):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv_seg = nn.Conv2d(self.channels, self.num_classes, 3, padding=1)


def test_a_head_without_1x1_classifier_fails_at_build_time():
    with pytest.raises(TypeError, match='1x1'):
        MODELS.build(dict(type='DropClassHead', base_type='_Conv3x3ClassifierHead', num_classes=K,
                          in_channels=6, channels=C, num_convs=1, concat_input=False))
    with pytest.raises(KeyError, match='not a registered decode head'):
        MODELS.build(dict(type='DropClassHead', base_type='NoSuchHead', num_classes=K))
    with pytest.raises(ValueError, match='inference_branch'):
        build_head(inference_branch='both')


def test_block_and_head_classes_are_importable_by_name():
    import copy
    import pickle
    head = build_head('ASPPHead')
    assert type(head).__name__ == 'DropClassASPPHead'
    assert isinstance(copy.deepcopy(head), type(head))
    assert type(pickle.loads(pickle.dumps(head))) is type(head)
    assert isinstance(head.class_drop, ClassDropBlock)
    assert ASPPHead in type(head).__mro__ and DepthwiseSeparableASPPHead not in type(head).__mro__
