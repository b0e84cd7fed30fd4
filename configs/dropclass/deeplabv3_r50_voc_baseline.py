# DeepLabV3 R50-D8 on Pascal VOC 2012 + SBD aug in the DropClass paper's VOC setting (20 classes
# without background, 480x480 crops), the baseline for DropClass. Stock 40k schedule at 4 GPUs x 4
# images; LR: the paper's 0.012 at batch 48 (supp. Table E-3) scaled linearly to batch 16.
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py', '../_base_/datasets/voc12aug_20cls_480x480.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_40k.py'
]
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(size=(480, 480)),
    decode_head=dict(num_classes=20),
    auxiliary_head=dict(num_classes=20))
optim_wrapper = dict(optimizer=dict(lr=0.012 * 16 / 48))
