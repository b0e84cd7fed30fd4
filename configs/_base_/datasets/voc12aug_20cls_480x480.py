# Pascal VOC 2012 + SBD aug (10582 train images) in the DropClass paper's setting (supp. §C, §E):
# the 20 object classes only ("background" pixels are ignored: label_map sends them to 255),
# random scale 0.5-2, 480x480 crops, flip. Everything else as MMSeg's pascal_voc12_aug.py.
_base_ = ['mmseg::_base_/datasets/pascal_voc12_aug.py']
crop_size = (480, 480)
metainfo = dict(classes=('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
                         'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
                         'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    dataset=dict(
        type='ConcatDataset',
        datasets=[
            dict(type='PascalVOCDataset', data_root='data/VOCdevkit/VOC2012', metainfo=metainfo,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/train.txt', pipeline=train_pipeline),
            dict(type='PascalVOCDataset', data_root='data/VOCdevkit/VOC2012', metainfo=metainfo,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
                 ann_file='ImageSets/Segmentation/aug.txt', pipeline=train_pipeline),
        ]))
val_dataloader = dict(dataset=dict(metainfo=metainfo))
test_dataloader = val_dataloader
