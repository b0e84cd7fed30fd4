# SCrIBE paper baseline: DeepLabV3 ResNet-50 (output stride 8, no auxiliary head), 21 logits, softmax
# CE, trained on VOC train + SBD train_noval (7087 images) for ~50 epochs at batch 4 GPUs x 4:
# 7087 * 50 / 16 = 22150 iterations. SGD momentum 0.9, weight decay 5e-5, poly LR, 0.01 for the
# backbone and 0.1 for the head (the authors' settings). Crops: MMSeg's 512x512 (the authors: 224).
_base_ = [
    'mmseg::_base_/models/deeplabv3_r50-d8.py', '../_base_/datasets/voc12_sbd_noval.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_20k.py'
]
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
model = dict(
    data_preprocessor=dict(size=(512, 512)),
    decode_head=dict(num_classes=21),
    auxiliary_head=None)
iters = 22150
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-5),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=iters, by_epoch=False)]
train_cfg = dict(max_iters=iters, val_interval=iters // 10)
default_hooks = dict(checkpoint=dict(interval=iters // 10))
