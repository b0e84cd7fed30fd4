# IBE on Cityscapes. Cityscapes has no background class, so one class must be the implicit one:
# here class 0 ('road', the most frequent), an explicit choice (background_index) not from the paper.
_base_ = ['./hrnet_w18_cityscapes_softmax.py']
model = dict(
    decode_head=dict(type='ImplicitBackgroundHead', base_type='FCNHead', background_index=0,
                     compose='before_resize'))
