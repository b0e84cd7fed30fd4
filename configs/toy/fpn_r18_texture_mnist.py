# ResNet-18 encoder-decoder on Texture-MNIST (grid saliency supp. §S1.5 compares VGG16, ResNet18
# and MobileNetV2 U-Nets): mmseg's ResNet-18 (BasicBlocks, 64-512 channels, no pretraining) with an
# FPN decoder (top-down path, lateral skips from every stage: the U-Net idea) and FPNHead. Logits at
# 1/4 resolution (16x16 for 64x64 images), upsampled bilinearly. Data and schedule as
# unet_texture_mnist.py (RMSprop 2e-3 -> 2e-4); benchmark it with
#   python tools/saliency/context_bias_benchmark.py \
#       --config configs/toy/fpn_r18_texture_mnist.py ...
_base_ = ['./unet_texture_mnist.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=18,
        in_channels=3,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 2, 2),
        dilations=(1, 1, 1, 1),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch'),
    neck=dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=64, num_outs=4),
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
