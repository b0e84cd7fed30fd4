# HRNetV2-W48 on Pascal VOC 2012 + SBD aug in the DropClass paper's VOC setting (20 classes without
# background, 480x480 crops; configs/_base_/datasets/voc12aug_20cls_480x480.py), the baseline for
# DropClass. Stock 40k schedule at 4 GPUs x 4 images; LR: the paper's 0.016 at batch 64
# (supp. Table E-3) scaled linearly to batch 16.
_base_ = [
    'mmseg::_base_/models/fcn_hr18.py', '../_base_/datasets/voc12aug_20cls_480x480.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(size=(480, 480)),
    pretrained='open-mmlab://msra/hrnetv2_w48',
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384)))),
    decode_head=dict(in_channels=[48, 96, 192, 384], channels=sum([48, 96, 192, 384]), num_classes=20))
optim_wrapper = dict(optimizer=dict(lr=0.016 * 16 / 64))
