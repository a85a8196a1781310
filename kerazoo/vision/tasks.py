"""Training Tasks of the dense heads: how ``kerazoo train`` gets their data, builds, compiles, evaluates, exports
and draws them (the contract is ``kerazoo.training.tasks.Task``'s; this module adds the dense-task hooks).

:class:`DenseTask` is the base of every vision Task (detection subclasses it too). Beyond ``Task`` it defines:

    task.callbacks(model, config, run_dir)  # extra fit callbacks: backbone fine-tuning (unfreeze after N epochs)
    task.serving_outputs(model, images)     # named outputs of the exported ``serving_default`` signature
    task.predict_image(model, image, resize=...)  # one raw-pixel image of any size → its predictions (NumPy), in
                                                  # the image's own pixels
    task.draw(image, prediction, info)      # RGB uint8 picture of the prediction on the image (``kerazoo predict``)

Data of any image size (``coco:DIR``, ``voc:DIR``, ``masks:DIR``, tfds names) trains at ``model.input_size`` (one
side or [height, width]; default ``kerazoo.vision.data.DEFAULT_IMAGE_SIZE``), images brought to it by
``data.resize`` (letterbox or stretch); ``predict_image`` takes an image at its own size and maps the predictions
back to it.

Transfer learning (``--backbone-from RUN``, config ``model.backbone_from``): the backbone's weights are copied
from a classification run's checkpoint, and the model scales pixels as that classifier did. Or
``--backbone-weights imagenet`` (``model.backbone_weights``: a tag or weights file, docs/pretrained.md): the backbone
is built with pretrained weights and takes the raw pixels, its own preprocessing inside (grey images repeated to three
channels). With either,
``model.freeze_epochs`` = N the backbone stays frozen for N epochs and is then unfrozen with the learning rate
multiplied by ``model.finetune_lr_factor``.
"""

from __future__ import annotations

import keras
import numpy as np

from kerazoo.datasets import dense, scenes
from kerazoo.training.tasks import Task, normalize, register_task
from kerazoo.vision import backbone as bb
from kerazoo.vision.augment import dense_augmenter
from kerazoo.vision.data import dense_info, load_dense

__all__ = ["DenseTask", "LocalizationTask", "SegmentationTask", "FineTuneBackbone", "ScaledSchedule", "class_iou"]


@keras.saving.register_keras_serializable(package="kerazoo")
class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``schedule(step) * factor``: the lower learning rate of the fine-tuning phase."""

    def __init__(self, schedule, factor: float):
        self.schedule = schedule
        self.factor = float(factor)

    def __call__(self, step):
        return self.schedule(step) * self.factor

    def get_config(self):
        return {"schedule": keras.optimizers.schedules.serialize(self.schedule), "factor": self.factor}

    @classmethod
    def from_config(cls, config):
        return cls(keras.optimizers.schedules.deserialize(config["schedule"]), config["factor"])


class FineTuneBackbone(keras.callbacks.Callback):
    """Unfreezes the model's backbone at epoch ``freeze_epochs`` and scales the learning rate by ``lr_factor``.

    The optimizer's slots for the backbone were created while it was trainable (``DenseTask.compile``), so the
    unfrozen variables train from the next step on; the train function is rebuilt to see them.
    """

    def __init__(self, freeze_epochs: int, lr_factor: float):
        super().__init__()
        self.freeze_epochs, self.lr_factor = freeze_epochs, lr_factor

    def on_epoch_begin(self, epoch, logs=None):
        if epoch < self.freeze_epochs or self.model.get_layer(bb.BACKBONE).trainable:
            return
        bb.set_backbone_trainable(self.model, True)
        optimizer = self.model.optimizer
        rate = optimizer._learning_rate  # the schedule object (the public property returns its current value)
        if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
            optimizer.learning_rate = ScaledSchedule(rate, self.lr_factor)
        else:
            optimizer.learning_rate = float(keras.ops.convert_to_numpy(rate)) * self.lr_factor
        self.model.make_train_function(force=True)


def _transferred(config) -> bool:
    """Whether the backbone starts from a classification run or from pretrained weights."""
    return bool(getattr(config.model, "backbone_from", None) or getattr(config.model, "backbone_weights", None))


class DenseTask(Task):
    """Base of the vision Tasks: data from ``kerazoo.vision.data``, builds through the registry, transfer learning."""

    predicts_classes = False

    data_task = "detection"
    """Which targets ``load_dense`` yields for this task."""

    def dataset_info(self, config):
        return dense_info(config.data.dataset, data_dir=config.data.data_dir, image_size=config.model.input_size)

    def classes(self, info) -> int:
        """The ``classes`` argument the head is built with."""
        return info.num_classes

    def targets(self, images, targets, info):
        """Maps one batch of ``load_dense`` output to what ``fit`` trains on (default: unchanged)."""
        return images, targets

    def _load(self, config, split, *, limit, shuffle=None, augment=(), stream=False):
        data = config.data
        info = self.dataset_info(config)
        options = {}
        if data.dataset != scenes.NAME:  # the scenes keep their canvas
            options = {"image_size": info.image_shape[:2], "resize": data.resize}
        ds = load_dense(data.dataset, _folder_split(data.dataset, split), self.data_task, batch_size=data.batch_size,
                        data_dir=data.data_dir, seed=config.seed, limit=limit, shuffle=shuffle, stream=stream,
                        stream_start=data.stream_start or 0, **options)
        augmenter = dense_augmenter(augment, self.data_task, seed=config.seed)
        if augmenter is not None:  # training batches only: boxes and masks move with the pixels
            ds = ds.map(augmenter, num_parallel_calls=-1)  # -1: tf.data.AUTOTUNE
        return ds.map(lambda x, y: self.targets(x, y, info))

    def pipelines(self, config, replicas: int):
        data = config.data
        if data.batch_size % replicas:
            raise ValueError(f"Config field 'data.batch_size' ({data.batch_size}) must be divisible by the {replicas} "
                             f"replicas.")
        train = self._load(config, data.train_split, limit=data.limit, augment=data.augment, stream=data.stream)
        val = None
        if data.val_split:
            val = self._load(config, data.val_split, limit=self._val_limit(config), shuffle=False)
        return train, val

    @staticmethod
    def _val_limit(config):
        """A fifth of what one epoch trains on: of ``data.limit`` scenes, or of ``steps_per_epoch`` batches when
        those draw each epoch's scenes from a larger pool or a stream (scoring a fifth of the pool every epoch would
        cost more than the training)."""
        data = config.data
        if data.stream:
            per_epoch = config.steps_per_epoch * data.batch_size
        elif not data.limit:
            return None
        else:
            per_epoch = min(data.limit, config.steps_per_epoch * data.batch_size) if config.steps_per_epoch else data.limit
        return max(per_epoch // 5, data.batch_size)

    def build(self, config, info):
        from kerazoo.applications import create_model
        from kerazoo.runs import RunDir

        source = getattr(config.model, "backbone_from", None)
        weights = getattr(config.model, "backbone_weights", None)
        if source and weights:
            raise ValueError("Invalid config: model.backbone_from and model.backbone_weights exclude each other (both "
                             "start the backbone).")
        classifier = RunDir(source).load_model() if source else None
        inputs = keras.Input(shape=info.image_shape, name="images")
        kwargs = dict(config.model.kwargs)
        if weights:  # pretrained backbone: raw pixels in, its own preprocessing inside (kerazoo.applications.pretrained)
            x = keras.layers.Concatenate(name="to_rgb")([inputs] * 3) if info.image_shape[-1] == 1 else inputs
            kwargs["backbone_kwargs"] = {**(kwargs.get("backbone_kwargs") or {}), "weights": weights}
        elif classifier is None:
            x = normalize(inputs, info)
        else:
            scale, offset = bb.classifier_pixel_scaling(classifier, channels=info.image_shape[-1])
            x = keras.layers.Rescaling(scale, offset=offset, name="normalize")(inputs)
        model = create_model(config.model.name, input_tensor=x, classes=self.classes(info), **kwargs)
        if classifier is not None:
            bb.load_backbone_weights(model, classifier)
        return model

    def compile_model(self, trainer, config, optimizer, **kwargs) -> None:
        """``trainer.compile`` after building the optimizer's slots for every variable, then freezing the backbone
        when ``model.freeze_epochs`` > 0 (so :class:`FineTuneBackbone` can unfreeze it later)."""
        if getattr(config.model, "freeze_epochs", 0) and _transferred(config):
            optimizer.build(trainer.trainable_variables)
            bb.set_backbone_trainable(trainer, False)
        trainer.compile(optimizer=optimizer, jit_compile=config.jit_compile,
                        steps_per_execution=config.steps_per_execution, **kwargs)

    def callbacks(self, model, config, run_dir: str) -> list:
        """Callbacks ``fit`` needs for this task (the backbone fine-tuning schedule)."""
        freeze = getattr(config.model, "freeze_epochs", 0)
        if freeze and _transferred(config):
            return [FineTuneBackbone(freeze, getattr(config.model, "finetune_lr_factor", 0.1))]
        return []

    def serving_outputs(self, model, images) -> dict:
        """Named outputs of the exported signature for a batch of raw-pixel ``images``."""
        raise NotImplementedError

    def predict_image(self, model, image, *, resize: str = "letterbox") -> dict:
        """Predictions for one raw-pixel image [h, w, C] of any size, in the image's own pixels
        (:meth:`original_outputs` on a batch of one)."""
        batch = keras.ops.convert_to_tensor(np.asarray(image, np.float32)[None])
        return {k: keras.ops.convert_to_numpy(v)[0] for k, v in self.original_outputs(model, batch, resize).items()}

    def original_outputs(self, model, images, resize: str = "letterbox") -> dict:
        """``serving_outputs`` for a batch of same-sized raw-pixel ``images`` of any size: they are brought to the
        model's size as the loader brings its images (``resize``), and the outputs mapped back to their pixels
        (:meth:`outputs_to_original`). Images at the model's size pass unchanged."""
        import tensorflow as tf

        from kerazoo.vision.data import place_images

        size = tuple(model.inputs[0].shape[1:3])
        if tuple(images.shape[1:3]) == size:
            return self.serving_outputs(model, images)
        placed, place = place_images(images, size, resize)
        outputs = self.serving_outputs(model, placed)
        return self.outputs_to_original(outputs, tf.shape(images)[1:3], place, size)

    def export_outputs(self, config, info):
        """(outputs function, input shape) of the exported ``serving_default``: a model trained on data of any
        size (a folder or a tfds name) takes images of any size and answers in their pixels
        (:meth:`original_outputs`, ``data.resize``); one trained on the scenes takes their fixed size."""
        if config.data.dataset == scenes.NAME:
            return self.serving_outputs, None
        resize = config.data.resize
        return (lambda model, images: self.original_outputs(model, images, resize)), (None, None, info.image_shape[-1])

    def outputs_to_original(self, outputs: dict, original, place, size) -> dict:
        """``outputs`` made at the model's ``size`` (H, W) for images placed there at ``place`` (new height, new
        width, top, left), in the pixels of the ``original`` (h, w) images (TensorFlow ops: it runs in exports)."""
        raise NotImplementedError

    def draw(self, image, prediction: dict, info) -> np.ndarray:
        """RGB uint8 [H, W, 3] picture of ``prediction`` on ``image``."""
        raise NotImplementedError

    def batches(self, config, split=None, limit=None):
        """Unshuffled (images, targets) batches of a split (default: the test split), as ``fit`` sees them."""
        return self._load(config, split or config.data.test_split, limit=limit, shuffle=False)

    def original_batches(self, config, split=None, limit=None):
        """Unshuffled batches of a split (default: the test split) at the images' own sizes, for scoring predictions
        in original-image pixels: (float32 raw pixels [b, h, w, 3], the b examples of
        ``kerazoo.vision.data.original_examples``), consecutive images of one size together (up to
        ``data.batch_size``), so a split of mixed sizes gives batches of one size each. None for the scenes, whose
        own size is the model's (``batches`` is what to score)."""
        from kerazoo.vision.data import original_examples

        data = config.data
        if data.dataset == scenes.NAME:
            return None

        def grouped():
            group = []
            for example in original_examples(data.dataset, _folder_split(data.dataset, split or data.test_split),
                                             self.data_task, data_dir=data.data_dir, limit=limit):
                if group and (example["image"].shape != group[0]["image"].shape or len(group) == data.batch_size):
                    yield np.stack([g["image"] for g in group]).astype(np.float32), group
                    group = []
                group.append(example)
            if group:
                yield np.stack([g["image"] for g in group]).astype(np.float32), group

        return grouped()


def _rgb(image) -> np.ndarray:
    image = np.asarray(image, np.float32)
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


def _folder_split(dataset: str, split: str) -> str:
    """A folder's own split for the held-out slices a null ``data.train_split``/``val_split`` resolves to
    (``train[:90%]``, ``train[90%:]``; the Fashion-MNIST family's ``train[:55000]``, ``train[55000:]``): ``train`` and
    ``val`` when the folder has a ``val`` split (else the slices of its ``train``); any other split as it is."""
    from kerazoo.training.config import DEFAULT_HELD_OUT_SPLITS, HELD_OUT_SPLITS

    if not dense.is_dense_path(dataset):
        return split
    held_out = {DEFAULT_HELD_OUT_SPLITS, *HELD_OUT_SPLITS.values()}
    own = {train: "train" for train, _ in held_out} | {val: "val" for _, val in held_out}
    if split not in own or "val" not in dense.open_source(dataset).splits:
        return split
    return own[split]


def boxes_to_original(boxes, original, place):
    """"xyxy" pixel ``boxes`` [..., 4] at the model's size → pixels of the ``original`` (h, w) image, which was
    placed at ``place`` (new height, new width, top, left); clipped to it. The inverse of the loader's transform
    (``kerazoo.datasets.dense.to_original_boxes`` in TensorFlow ops)."""
    import tensorflow as tf

    new_h, new_w, top, left = (tf.cast(v, tf.float32) for v in place)
    height, width = tf.cast(original[0], tf.float32), tf.cast(original[1], tf.float32)
    shift = tf.stack([left, top, left, top])
    scale = tf.stack([width / new_w, height / new_h, width / new_w, height / new_h])
    limit = tf.stack([width, height, width, height])
    return tf.clip_by_value((tf.cast(boxes, tf.float32) - shift) * scale, 0.0, limit)


def class_colors(count: int) -> np.ndarray:
    """uint8 [count, 3]: the colour of each class id (VOC's palette; 0, the background, is black)."""
    from kerazoo.datasets.voc import voc_palette

    return voc_palette(count)


def draw_legend(picture, names, colors, *, width: int = 96) -> np.ndarray:
    """``picture`` with a panel of ``width`` pixels at its right: a colour swatch and the name of each class."""
    from PIL import Image, ImageDraw

    height = max(picture.shape[0], 12 * len(names) + 4)
    canvas = Image.new("RGB", (picture.shape[1] + width, height), (255, 255, 255))
    canvas.paste(Image.fromarray(np.asarray(picture, np.uint8)), (0, 0))
    pen = ImageDraw.Draw(canvas)
    for row, (name, color) in enumerate(zip(names, colors)):
        x, y = picture.shape[1] + 4, 2 + 12 * row
        pen.rectangle([x, y, x + 9, y + 9], fill=tuple(int(c) for c in color), outline=(0, 0, 0))
        pen.text((x + 13, y - 1), str(name), fill=(0, 0, 0))
    return np.asarray(canvas, np.uint8)


def class_iou(metric: keras.metrics.MeanIoU) -> np.ndarray:
    """Per-class IoU from a ``keras.metrics.MeanIoU``'s confusion matrix (its ``result()`` is their mean); NaN for a
    class absent from both targets and predictions, which the mean leaves out too."""
    matrix = keras.ops.convert_to_numpy(metric.total_cm)
    union = matrix.sum(0) + matrix.sum(1) - np.diag(matrix)
    return np.where(union > 0, np.diag(matrix) / np.maximum(union, 1), np.nan)


class SegmentationTask(DenseTask):
    """Semantic segmentation: masks with 0 = background; loss ``model.loss`` (default cross-entropy + Dice),
    metric ``keras.metrics.MeanIoU``."""

    name = "segmentation"
    data_task = "segmentation"
    monitor = "val_mean_iou"
    mode = "max"
    LOSSES = ("cross_entropy_dice", "cross_entropy", "dice", "soft_iou")

    def classes(self, info) -> int:
        return info.num_classes + 1  # the background

    def loss(self, config):
        from kerazoo import losses

        name = getattr(config.model, "loss", None) or "cross_entropy_dice"
        table = {"cross_entropy_dice": losses.CrossEntropyDice, "dice": losses.DiceLoss,
                 "soft_iou": losses.SoftIoULoss,
                 "cross_entropy": lambda: keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
        if name not in table:
            raise ValueError(f"Invalid model.loss for segmentation: expected one of {list(table)}. Received: {name!r}")
        return table[name]()

    def compile(self, trainer, config, optimizer) -> None:
        classes = self.classes(self.dataset_info(config))
        self.compile_model(trainer, config, optimizer, loss=self.loss(config), metrics=[
            keras.metrics.MeanIoU(classes, sparse_y_pred=False, name="mean_iou"),
            keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy")])

    def evaluate(self, model, config, *, split=None, limit=None) -> dict:
        """Mean IoU over all classes (background included), per-class IoU by name, pixel accuracy and the pixels
        scored on a split.
        Data of any size (folders, tfds) is scored at each mask's original size: the predictions are mapped back
        (un-letterboxed, resized) as ``kerazoo predict`` and the export map them, and compared with the mask as the
        dataset has it."""
        info = self.dataset_info(config)
        classes = self.classes(info)
        names = ("background", *info.class_names)
        confusion = np.zeros((classes, classes), np.int64)  # rows: truth, columns: prediction
        original = self.original_batches(config, split, limit)
        if original is None:  # the scenes: the model's size is theirs
            pairs = ((keras.ops.convert_to_numpy(keras.ops.argmax(model(images, training=False), -1)),
                      masks.numpy()) for images, masks in self.batches(config, split, limit))
        else:
            pairs = ((keras.ops.convert_to_numpy(self.original_outputs(model, images, config.data.resize)["masks"]),
                      np.stack([e["semantic"] for e in examples])) for images, examples in original)
        examples = 0
        for predicted, truth in pairs:
            examples += len(truth)
            pixels = truth.astype(np.int64).ravel() * classes + predicted.astype(np.int64).ravel()
            confusion += np.bincount(pixels, minlength=classes * classes).reshape(classes, classes)
        union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
        per_class = np.where(union > 0, np.diag(confusion) / np.maximum(union, 1), np.nan)
        return {"split": split or config.data.test_split, "examples": examples, "pixels": int(confusion.sum()),
                "mean_iou": float(np.nanmean(per_class)) if (union > 0).any() else 0.0,
                "pixel_accuracy": float(np.trace(confusion) / max(confusion.sum(), 1)),
                "class_iou": {n: (None if np.isnan(v) else round(float(v), 4)) for n, v in zip(names, per_class)}}

    def serving_outputs(self, model, images) -> dict:
        logits = keras.ops.cast(model(images, training=False), "float32")
        return {"probabilities": keras.ops.softmax(logits, axis=-1),
                "masks": keras.ops.cast(keras.ops.argmax(logits, axis=-1), "int32")}

    def outputs_to_original(self, outputs, original, place, size) -> dict:
        """The probabilities of the image's part of the model's input, resized (bilinear) to the original size."""
        import tensorflow as tf

        new_h, new_w, top, left = place
        window = outputs["probabilities"][:, top:top + new_h, left:left + new_w]
        probabilities = tf.image.resize(window, original, method="bilinear")
        return {"probabilities": probabilities, "masks": tf.cast(tf.argmax(probabilities, -1), tf.int32)}

    def draw(self, image, prediction, info) -> np.ndarray:
        """The predicted classes coloured over the image, and a legend of the classes found at its right."""
        masks = prediction["masks"]
        classes = self.classes(info)
        colors = class_colors(classes)
        colored = keras.visualization.draw_segmentation_masks(
            _rgb(image)[None], masks[None, ..., None], num_classes=classes, alpha=0.5, ignore_index=0,
            color_mapping={k: tuple(int(c) for c in colors[k]) for k in range(classes)})
        picture = np.asarray(keras.ops.convert_to_numpy(colored)[0], np.uint8)
        found = [k for k in np.unique(masks) if k > 0]
        names = ("background", *info.class_names)
        return draw_legend(picture, [names[k] for k in found], colors[found])


class LocalizationTask(DenseTask):
    """Classification + localization: cross-entropy plus ``box_weight`` times an L2 (``model.loss=l2``) or
    smooth-L1 (default) loss on boxes given as fractions of the image."""

    name = "localization"
    data_task = "localization"
    monitor = "val_loss"
    mode = "min"
    box_weight = 5.0

    def targets(self, images, targets, info):
        height, width = images.shape[1], images.shape[2]
        scale = keras.ops.convert_to_tensor([width, height, width, height], "float32")
        return images, {"class": targets["class"], "box": targets["box"] / scale}

    def compile(self, trainer, config, optimizer) -> None:
        kind = getattr(config.model, "loss", None) or "smooth_l1"
        box_losses = {"smooth_l1": lambda: keras.losses.Huber(delta=0.1), "l2": keras.losses.MeanSquaredError}
        if kind not in box_losses:
            raise ValueError(f"Invalid model.loss for localization: expected one of {list(box_losses)}. "
                             f"Received: {kind!r}")
        self.compile_model(
            trainer, config, optimizer,
            loss={"class": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "box": box_losses[kind]()},
            loss_weights={"class": 1.0, "box": self.box_weight},
            metrics={"class": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]})

    def evaluate(self, model, config, *, split=None, limit=None) -> dict:
        """Classification accuracy, mean IoU of the predicted boxes and the share localized right (class right and
        IoU >= 0.5, the ILSVRC localization criterion) on a split."""
        from keras.utils import bounding_boxes

        ious, right, both, count = [], 0, 0, 0
        for images, targets in self.batches(config, split, limit):
            out = model(images, training=False)
            iou = bounding_boxes.compute_iou(targets["box"][:, None], keras.ops.cast(out["box"], "float32")[:, None],
                                             bounding_box_format="xyxy")
            iou = keras.ops.convert_to_numpy(iou)[:, 0, 0]
            hit = np.argmax(keras.ops.convert_to_numpy(out["class"]), -1) == targets["class"].numpy()
            ious.append(iou)
            right += int(hit.sum())
            both += int(np.sum(hit & (iou >= 0.5)))
            count += len(iou)
        return {"split": split or config.data.test_split, "examples": count, "accuracy": right / count,
                "mean_iou": float(np.concatenate(ious).mean()), "correct_localization": both / count}

    def serving_outputs(self, model, images) -> dict:
        out = model(images, training=False)
        logits = keras.ops.cast(out["class"], "float32")
        height, width = images.shape[1], images.shape[2]
        scale = keras.ops.convert_to_tensor([width, height, width, height], "float32")
        return {"probabilities": keras.ops.softmax(logits, -1),
                "classes": keras.ops.cast(keras.ops.argmax(logits, -1), "int32"),
                "boxes": keras.ops.cast(out["box"], "float32") * scale}

    def outputs_to_original(self, outputs, original, place, size) -> dict:
        return {**outputs, "boxes": boxes_to_original(outputs["boxes"], original, place)}

    def draw(self, image, prediction, info) -> np.ndarray:
        boxes = {"boxes": prediction["boxes"][None, None], "labels": prediction["classes"][None, None]}
        drawn = keras.visualization.draw_bounding_boxes(
            _rgb(image)[None], boxes, bounding_box_format="xyxy", class_mapping=dict(enumerate(info.class_names)),
            color=(255, 64, 64), line_thickness=1, text_thickness=1, font_scale=0.4)
        return np.asarray(drawn[0], np.uint8)


register_task(SegmentationTask())
register_task(LocalizationTask())
