# DeepLabV3 (ASPP head) on a MobileNetV3-Large backbone (output stride 8), Pascal VOC in the paper's
# setting: the "DeepLabV3" row of supp. Table C-2. Baseline for DropClass; same LR rule as R50.
_base_ = ['./deeplabv3_r50_voc_baseline.py']
model = dict(
    pretrained='open-mmlab://contrib/mobilenet_v3_large',
    backbone=dict(
        _delete_=True,
        type='MobileNetV3',
        arch='large',
        out_indices=(1, 3, 16),
        norm_cfg=dict(type='SyncBN', eps=0.001, requires_grad=True)),
    decode_head=dict(in_channels=960, in_index=2, channels=256),
    auxiliary_head=None)
