# The SCrIBE trio on Cityscapes: stock MMSeg HRNetV2-W18 (softmax CE), the baseline for the IBE and
# SCrIBE variants beside it.
_base_ = ['mmseg::hrnet/fcn_hr18_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmseg_bias'], allow_failed_imports=False)
