# IBE: the softmax baseline with implicit background estimation. The head predicts the 20 object
# logits; background = -logsumexp of them (class 0), applied before upsampling as in the authors'
# notebook (compose='after_resize' for their packaged module). Softmax CE as the baseline.
_base_ = ['./deeplabv3_r50_voc_softmax.py']
model = dict(
    decode_head=dict(type='ImplicitBackgroundHead', base_type='ASPPHead', background_index=0,
                     compose='before_resize'))
