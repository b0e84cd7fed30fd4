# MobileNetV2 encoder-decoder on Texture-MNIST (grid saliency supp. §S1.5): mmseg's MobileNetV2
# (width 1.0, no pretraining) with an FPN decoder over its stride-4/8/16/32 stages (24, 32, 96, 320
# channels) and FPNHead; logits at 1/4 resolution, upsampled bilinearly. Data and schedule as
# unet_texture_mnist.py (RMSprop 1e-3 -> 1e-4).
_base_ = ['./unet_texture_mnist.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.0,
        strides=(1, 2, 2, 2, 1, 2, 1),
        dilations=(1, 1, 1, 1, 1, 1, 1),
        out_indices=(1, 2, 4, 6),
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU6')),
    neck=dict(type='FPN', in_channels=[24, 32, 96, 320], out_channels=64, num_outs=4),
    decode_head=dict(
        _delete_=True,
        type='FPNHead',
        in_channels=[64, 64, 64, 64],
        in_index=[0, 1, 2, 3],
        feature_strides=[4, 8, 16, 32],
        channels=64,
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
