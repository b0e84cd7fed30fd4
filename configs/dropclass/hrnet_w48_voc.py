# HRNetV2-W48 + DropClass on Pascal VOC (20 classes, 480x480): the baseline's model, data and LR, the
# DropClass head, and twice the baseline schedule (supp. §E: 400 vs 200 epochs) -> 80k iterations.
_base_ = ['./hrnet_w48_voc_baseline.py']
model = dict(decode_head=dict(type='DropClassHead', base_type='FCNHead', alpha=10.0))
custom_hooks = [dict(type='DropClassProgressHook', by_epoch=False)]
iters = 80000
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=iters, by_epoch=False)]
train_cfg = dict(max_iters=iters, val_interval=iters // 10)
default_hooks = dict(checkpoint=dict(interval=iters // 10))
