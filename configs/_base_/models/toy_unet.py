# The toy U-Net of the Texture-MNIST benchmark (grid saliency, supp. §S1): mmseg's UNet, 4 stages
# of 16-128 channels (0.45 M parameters), bottleneck at 4x4, 11 classes (background + 10 digits)
# on 64x64 images. Its first stage convolves with stride 2, so the network works at 32x32 and its
# logits are upsampled bilinearly to 64x64: the digit masks carry MNIST's 28x28 detail, so little
# is lost, and a training step costs 1/9 of the full-resolution, 32-channel U-Net's — the
# difference between learning the digits in 5 CPU minutes and not learning them at all
# (README.md, Texture-MNIST benchmark). The paper does not give its U-Net's width or resolution.
# Datasets and schedules live in configs/toy/.
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(64, 64))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='UNet',
        in_channels=3,
        base_channels=16,
        num_stages=4,
        strides=(2, 1, 1, 1),
        enc_num_convs=(2, 2, 2, 2),
        dec_num_convs=(2, 2, 2),
        downsamples=(True, True, True),
        enc_dilations=(1, 1, 1, 1),
        dec_dilations=(1, 1, 1),
        with_cp=False,
        conv_cfg=None,
        norm_cfg=norm_cfg,
        act_cfg=dict(type='ReLU'),
        upsample_cfg=dict(type='InterpConv'),
        norm_eval=False),
    decode_head=dict(
        type='FCNHead',
        in_channels=16,
        in_index=3,
        channels=16,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
