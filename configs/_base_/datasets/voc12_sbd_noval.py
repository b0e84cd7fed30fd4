# Pascal VOC 2012 train (1464, VOC labels) + SBD train minus VOC val (5623, SBD labels) = 7087 images,
# the SCrIBE paper's training set; validation on VOC val (1449). Build the SBD part once with
#   python tools/dataset_converters/voc_sbd_noval.py data/VOCdevkit/VOC2012 data/benchmark_RELEASE/dataset
_base_ = ['mmseg::_base_/datasets/pascal_voc12.py']
data_root = 'data/VOCdevkit/VOC2012'
train_pipeline = {{_base_.train_pipeline}}
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(type='PascalVOCDataset', data_root=data_root, pipeline=train_pipeline,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/train.txt'),
            dict(type='PascalVOCDataset', data_root=data_root, pipeline=train_pipeline,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassSBD'),
                 ann_file='ImageSets/Segmentation/sbd_train_noval.txt'),
        ]))
