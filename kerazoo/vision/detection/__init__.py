"""Object detection on any zoo backbone: single-shot (``ssd``, ``retinanet``) and two-stage (``faster_rcnn``,
``mask_rcnn``) detectors, registered with task "detection" and trained, evaluated (COCO mAP with pycocotools) and
exported (the TF Object Detection API outputs) by the same service as every other model. See docs/vision.md.

Pieces, each usable alone:
    anchors      AnchorSpec, generate_anchors: anchors on several feature levels
    boxes        encode_boxes / decode_boxes (keras.utils.bounding_boxes deltas), match_anchors, BoxDecoder
    postprocess  detect (batched per-class NMS → TF OD API outputs), greedy_nms (keras.ops, inside models)
    roi_align    roi_align / RoIAlign on keras.ops
    coco         coco_evaluate: COCO mAP@[.5:.95], mAP@.5 (and mask AP) with pycocotools
"""

from kerazoo.vision.detection.anchors import AnchorSpec, generate_anchors
from kerazoo.vision.detection.boxes import BoxDecoder, anchors_of, decode_boxes, encode_boxes, match_anchors
from kerazoo.vision.detection.postprocess import detect, greedy_nms
from kerazoo.vision.detection.roi_align import RoIAlign, roi_align
from kerazoo.vision.detection.single_shot import SSD, RetinaNet  # importing registers the models ...
from kerazoo.vision.detection.task import DetectionTask  # ... and the "detection" Task
from kerazoo.vision.detection.two_stage import FasterRCNN, MaskRCNN

__all__ = ["SSD", "RetinaNet", "FasterRCNN", "MaskRCNN", "DetectionTask", "AnchorSpec", "generate_anchors",
           "BoxDecoder", "anchors_of", "decode_boxes", "encode_boxes", "match_anchors", "detect", "greedy_nms",
           "RoIAlign", "roi_align"]
