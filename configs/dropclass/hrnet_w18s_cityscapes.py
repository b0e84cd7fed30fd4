# HRNetV2-W18-Small + DropClass on Cityscapes: the baseline's model, data and LR, the DropClass head, and twice
# the baseline schedule (supp. §E: 968 vs 484 epochs) -> 160k iterations.
_base_ = ['./hrnet_w18s_cityscapes_baseline.py']
model = dict(decode_head=dict(type='DropClassHead', base_type='FCNHead', alpha=10.0))
custom_hooks = [dict(type='DropClassProgressHook', by_epoch=False)]
iters = 160000
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=iters, by_epoch=False)]
train_cfg = dict(max_iters=iters, val_interval=iters // 10)
default_hooks = dict(checkpoint=dict(interval=iters // 10))
