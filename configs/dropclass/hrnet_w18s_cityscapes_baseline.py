# HRNetV2-W18-Small on Cityscapes, the baseline for a fair comparison with DropClass (same model, data and LR;
# stock 80k-iteration schedule). LR: the paper's 0.04 at batch 48 (supp. Table E-3) scaled
# linearly to MMSeg's batch of 4 GPUs x 2 images.
_base_ = ['mmseg::hrnet/fcn_hr18s_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
optim_wrapper = dict(optimizer=dict(lr=0.04 * 8 / 48))
