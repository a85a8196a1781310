"""The "detection" training Task: how ``kerazoo train`` trains, evaluates, exports and draws every detector.

Every detector built here maps raw pixels to per-candidate outputs, the same for all of them:
``{"boxes": [B, N, 4] "xyxy" pixels, "scores": [B, N, C] class probabilities}`` (plus ``"masks"`` for Mask R-CNN),
one row per anchor (single-shot) or per region proposal (two-stage). What is saved in the run's checkpoints is that
model; non-max suppression (``postprocess.detect``) runs after it, in evaluation, ``predict`` and the exported
SavedModel, whose ``serving_default`` returns the TF Object Detection API outputs (``detection_boxes``,
``detection_scores``, ``detection_classes``, ``num_detections``).

``fit`` trains a *trainer*: a model sharing the detector's layers whose output is what the detector's loss reads
(box deltas and class logits per anchor for single-shot detectors; see ``two_stage`` for the others). The loss
matches anchors to objects itself, so the data pipeline only packs each image's objects into ``y_true``
[B, M, 5] (x1, y1, x2, y2, class; -1 padding).

Config knobs (``model.kwargs``): ``backbone`` and the builders' arguments; ``model.loss``, where the config has it,
picks ``focal`` or ``hard_negative`` for single-shot detectors (default: RetinaNet focal, SSD hard negatives).
"""

from __future__ import annotations

import keras
import numpy as np

from kerazoo.training.tasks import register_task
from kerazoo.vision.detection.boxes import anchors_of
from kerazoo.vision.detection.coco import coco_evaluate
from kerazoo.vision.detection.postprocess import detect, detection_masks, paste_masks, to_pixel_detections
from kerazoo.vision.tasks import DenseTask, _rgb

__all__ = ["DetectionTask", "pack_targets", "single_shot_trainer", "MAX_DETECTIONS", "SCORE_THRESHOLD"]

MAX_DETECTIONS = 100
"""Detections per image after NMS (COCO's limit), the fixed size of the exported outputs."""
SCORE_THRESHOLD = 0.05
"""Candidates below this score never reach NMS (Detectron's default for COCO evaluation)."""
DRAW_THRESHOLD = 0.5
"""``kerazoo predict`` draws the detections at least this confident."""
TWO_STAGE = ("faster_rcnn", "mask_rcnn")
"""Families trained by ``two_stage.TwoStageTrainer`` (the others are single-shot)."""


def pack_targets(targets: dict):
    """{"boxes" [B, M, 4], "classes" [B, M]} → y_true [B, M, 5] float32 (the class as the fifth column)."""
    classes = keras.ops.cast(targets["classes"], "float32")[..., None]
    return keras.ops.concatenate([keras.ops.cast(targets["boxes"], "float32"), classes], axis=-1)


def single_shot_trainer(model: keras.Model) -> keras.Model:
    """The model ``fit`` runs for a single-shot detector: images → [B, N, 4 + C] (box deltas, class logits)."""
    deltas, logits = model.get_layer("box_deltas").output, model.get_layer("class_logits").output
    trainer = keras.Model(model.inputs, keras.layers.Concatenate(name="deltas_and_logits")([deltas, logits]),
                          name=f"{model.name}_trainer")
    trainer.anchors = anchors_of(model)
    return trainer


class DetectionTask(DenseTask):
    """Object detection: COCO mAP@[.5:.95] and mAP@.5 (pycocotools) on the held-out split."""

    name = "detection"
    data_task = "detection"
    monitor = "val_loss"
    mode = "min"

    def _family(self, config) -> str:
        from kerazoo.applications import get_entry

        return get_entry(config.model.name).family

    def _load(self, config, split, **kwargs):
        # Mask R-CNN trains and is scored on instance masks too; DenseTask._load reads the targets kind from here.
        self.data_task = "instance" if self._family(config) == "mask_rcnn" else "detection"
        return super()._load(config, split, **kwargs)

    def targets(self, images, targets, info):
        if "masks" in targets:
            return images, {"objects": pack_targets(targets), "masks": keras.ops.cast(targets["masks"], "float32")}
        return images, pack_targets(targets)

    def trainer(self, model, config):
        if self._family(config) in TWO_STAGE:
            from kerazoo.vision.detection.two_stage import TwoStageTrainer

            return TwoStageTrainer(model, anchors_of(model))
        return single_shot_trainer(model)

    def compile(self, trainer, config, optimizer) -> None:
        if self._family(config) in TWO_STAGE:
            self.compile_model(trainer, config, optimizer)  # the trainer computes its own loss
            return
        from kerazoo.vision.detection.single_shot import SingleShotLoss

        default = "hard_negative" if self._family(config) == "ssd" else "focal"
        kind = getattr(config.model, "loss", None) or default
        self.compile_model(trainer, config, optimizer, loss=SingleShotLoss(trainer.anchors, classification=kind))

    def serving_outputs(self, model, images) -> dict:
        """TF Object Detection API outputs: NMS over the model's per-candidate boxes and scores (fixed size);
        Mask R-CNN adds ``detection_masks`` [B, K, S, S] (probabilities inside each detection box, S = mask_size)."""
        out = model(images, training=False)
        image_size = tuple(images.shape[1:3])
        outputs = detect(out["boxes"], out["scores"], image_size=image_size, max_detections=MAX_DETECTIONS,
                         score_threshold=SCORE_THRESHOLD)
        if "masks" in out:
            outputs["detection_masks"] = detection_masks(outputs, out["boxes"], out["masks"], image_size=image_size)
        return outputs

    def evaluate(self, model, config, *, split=None, limit=None) -> dict:
        """COCO box AP (pycocotools) of the detections on a split (default: the config's held-out test split);
        for Mask R-CNN also mask AP (``mask_mAP``, ``mask_mAP50``). Data of any size (folders, tfds) is scored in
        each original image's pixels, against its annotations as the dataset has them (crowd regions as COCO's
        ``iscrowd``): the detections are mapped back as ``kerazoo predict`` and the export map them."""
        info = self.dataset_info(config)
        self.data_task = "instance" if self._family(config) == "mask_rcnn" else "detection"
        original = self.original_batches(config, split, limit)
        found = self._model_size_detections(model, config, split, limit) if original is None else (
            self._original_detections(model, config, original))
        predictions, truth = [], []
        for detections, expected in found:
            predictions.append(detections)
            truth.append(expected)
        masks = bool(truth) and "masks" in truth[0]
        figures = coco_evaluate(predictions, truth, num_classes=info.num_classes, masks=masks,
                                class_names=info.class_names)
        return {"split": split or config.data.test_split, "examples": len(truth), **figures}

    def _model_size_detections(self, model, config, split, limit):
        """(detections, truth) per image of the scenes, whose size is the model's."""
        for images, y in self.batches(config, split, limit):
            image_size = tuple(images.shape[1:3])
            outputs = {k: np.asarray(v) for k, v in self.serving_outputs(model, images).items()}
            objects = np.asarray(y["objects"] if isinstance(y, dict) else y)
            for n, (detections, packed) in enumerate(zip(to_pixel_detections(outputs, image_size), objects)):
                truth = {"boxes": packed[:, :4], "classes": packed[:, 4].astype(np.int64)}
                if isinstance(y, dict):
                    truth["masks"] = np.asarray(y["masks"][n]) >= 0.5
                    k = len(detections["scores"])
                    detections["masks"] = paste_masks(outputs["detection_masks"][n][:k], detections["boxes"],
                                                      image_size)
                yield detections, truth

    def _original_detections(self, model, config, batches):
        """(detections, truth) per image in its original pixels: batches of one size each, brought to the model's
        size by ``data.resize`` and the detections mapped back (``original_outputs``)."""
        for images, examples in batches:
            image_size = tuple(images.shape[1:3])
            outputs = {k: np.asarray(v) for k, v in self.original_outputs(model, images, config.data.resize).items()}
            for n, (detections, example) in enumerate(zip(to_pixel_detections(outputs, image_size), examples)):
                truth = {"boxes": example["boxes"], "classes": np.asarray(example["labels"], np.int64),
                         "crowd": np.asarray(example["crowd"], bool)}
                if "detection_masks" in outputs:
                    truth["masks"] = np.asarray(example["masks"], bool)
                    k = len(detections["scores"])
                    detections["masks"] = paste_masks(outputs["detection_masks"][n][:k], detections["boxes"],
                                                      image_size)
                yield detections, truth

    def outputs_to_original(self, outputs, original, place, size) -> dict:
        """Detection boxes (normalized to the model's input) normalized to the original image instead; the masks
        stay as they are (they are relative to their boxes)."""
        import tensorflow as tf

        from kerazoo.vision.tasks import boxes_to_original

        height, width = (float(v) for v in size)
        y1, x1, y2, x2 = tf.unstack(tf.cast(outputs["detection_boxes"], tf.float32), axis=-1)
        pixels = tf.stack([x1 * width, y1 * height, x2 * width, y2 * height], axis=-1)
        x1, y1, x2, y2 = tf.unstack(boxes_to_original(pixels, original, place), axis=-1)
        rows, cols = tf.cast(original[0], tf.float32), tf.cast(original[1], tf.float32)
        return {**outputs, "detection_boxes": tf.stack([y1 / rows, x1 / cols, y2 / rows, x2 / cols], axis=-1)}

    def draw(self, image, prediction, info) -> np.ndarray:
        """Boxes, class names and scores of the detections scoring at least ``DRAW_THRESHOLD``."""
        batch = {k: np.asarray(v)[None] for k, v in prediction.items()}
        found = to_pixel_detections(batch, tuple(np.shape(image)[:2]))[0]
        keep = found["scores"] >= DRAW_THRESHOLD
        boxes = {"boxes": found["boxes"][keep][None], "labels": found["classes"][keep][None],
                 "confidences": found["scores"][keep][None]}
        drawn = keras.visualization.draw_bounding_boxes(
            _rgb(image)[None], boxes, bounding_box_format="xyxy", class_mapping=dict(enumerate(info.class_names)),
            color=(255, 64, 64), line_thickness=1, text_thickness=1, font_scale=0.4)
        return np.asarray(drawn[0], np.uint8)


register_task(DetectionTask())
