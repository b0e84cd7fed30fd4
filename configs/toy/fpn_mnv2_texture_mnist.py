# MobileNetV2 encoder-decoder on Texture-MNIST (grid saliency supp. §S1.5): mmseg's MobileNetV2
# (width 1.0, no pretraining) in place of fpn_r18_texture_mnist.py's ResNet-18, with the same FPN
# decoder over its stride-4/8/16/32 stages (24, 32, 96, 320 channels) and FPNHead; logits at 1/4
# resolution, upsampled bilinearly. Data and schedule as unet_texture_mnist.py (RMSprop 2e-3 -> 2e-4).
_base_ = ['./fpn_r18_texture_mnist.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2',
        widen_factor=1.0,
        strides=(1, 2, 2, 2, 1, 2, 1),
        dilations=(1, 1, 1, 1, 1, 1, 1),
        out_indices=(1, 2, 4, 6),
        norm_cfg={{_base_.norm_cfg}},
        act_cfg=dict(type='ReLU6')),
    neck=dict(in_channels=[24, 32, 96, 320]))
