"""Detection building blocks against hand computations: anchors, box codes, matching, NMS, RoI-Align, losses, COCO."""

import numpy as np
import pytest
from keras import ops

from kerazoo.losses.detection import hard_negative_mask, sigmoid_focal, smooth_l1
from kerazoo.vision.detection import (AnchorSpec, decode_boxes, detect, encode_boxes, generate_anchors, greedy_nms,
                                      match_anchors, roi_align)
from kerazoo.vision.detection.coco import coco_evaluate


def test_anchors_centres_sizes_and_order():
    spec = AnchorSpec(image_size=(32, 32), feature_sizes=((2, 2), (1, 1)), sizes=(8, 16), scales=(1.0, 2.0),
                      aspect_ratios=(1.0, 4.0))
    anchors = generate_anchors(spec)
    assert anchors.shape == (spec.count, 4) == ((4 + 1) * 4, 4)
    # level 1, cell (row 0, col 1): centre (24, 8); first shape: 8x8; second: ratio 4 → w 4, h 16
    np.testing.assert_allclose(anchors[4], [20, 4, 28, 12])
    np.testing.assert_allclose(anchors[5], [22, 0, 26, 16])
    np.testing.assert_allclose(anchors[6], [16, 0, 32, 16])  # scale 2, ratio 1: 16x16 around (24, 8)
    # level 2: one cell centred at (16, 16), 16x16 base
    np.testing.assert_allclose(anchors[16], [8, 8, 24, 24])
    widths, heights = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    np.testing.assert_allclose((heights / widths)[:4], [1, 4, 1, 4], rtol=1e-6)


def test_anchor_spec_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match="one size per feature level"):
        AnchorSpec(image_size=(32, 32), feature_sizes=((4, 4), (2, 2)), sizes=(8,))
    with pytest.raises(ValueError, match="Invalid aspect_ratios"):
        AnchorSpec(image_size=(32, 32), feature_sizes=((4, 4),), sizes=(8,), aspect_ratios=(0.0,))


def test_encode_decode_round_trip_and_hand_values():
    anchors = np.array([[0, 0, 10, 10], [10, 10, 30, 50]], np.float32)
    boxes = np.array([[[1, 2, 11, 12], [5, 20, 45, 40]]], np.float32)
    deltas = ops.convert_to_numpy(encode_boxes(anchors, boxes))
    # first box: centre moved (1, 2) on a 10-pixel anchor, same size → (0.1, 0.2, 0, 0) / variance (0.1, 0.1, ...)
    np.testing.assert_allclose(deltas[0, 0], [1.0, 2.0, 0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(deltas[0, 1, 2:], np.log([40 / 20, 20 / 40]) / 0.2, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(decode_boxes(anchors, deltas)), boxes, atol=1e-4)
    clipped = ops.convert_to_numpy(decode_boxes(anchors, deltas, image_size=(30, 40)))
    np.testing.assert_allclose(clipped[0, 1], [5, 20, 40, 30], atol=1e-4)


def test_match_anchors_thresholds_padding_and_best_anchor():
    anchors = np.array([[0, 0, 10, 10], [0, 0, 10, 12], [20, 20, 30, 30], [50, 50, 60, 60], [0, 0, 10, 20]],
                       np.float32)
    gt_boxes = np.array([[[0, 0, 10, 10], [21, 21, 36, 36], [-1, -1, -1, -1]]], np.float32)
    gt_classes = np.array([[4, 7, -1]])
    boxes, classes, positive, negative = [ops.convert_to_numpy(t) for t in match_anchors(
        anchors, gt_boxes, gt_classes, positive_iou=0.5, negative_iou=0.4)]
    # IoUs with object 0: 1.0, 10/12, 0, 0, 0.5; anchor 2 with object 1: 81/(100+225-81) = 0.33 < 0.4, but it is
    # object 1's best anchor, so it is positive for it anyway.
    np.testing.assert_array_equal(positive[0], [True, True, True, False, True])
    np.testing.assert_array_equal(negative[0], [False, False, False, True, False])
    np.testing.assert_array_equal(classes[0, [0, 1, 2, 4]], [4, 4, 7, 4])
    np.testing.assert_allclose(boxes[0, 2], [21, 21, 36, 36])
    _, _, positive, negative = [ops.convert_to_numpy(t) for t in match_anchors(
        anchors, gt_boxes, gt_classes, positive_iou=0.9, negative_iou=0.4, low_quality=False)]
    np.testing.assert_array_equal(positive[0], [True, False, False, False, False])
    # between the thresholds: ignored (neither)
    np.testing.assert_array_equal(negative[0], [False, False, True, True, False])
    with pytest.raises(ValueError, match="negative_iou <= positive_iou"):
        match_anchors(anchors, gt_boxes, gt_classes, positive_iou=0.3, negative_iou=0.4)


def test_detect_per_class_nms_on_hand_made_boxes():
    boxes = np.array([[[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10]]], np.float32)
    scores = np.zeros((1, 4, 2), np.float32)
    scores[0, :, 0] = [0.9, 0.8, 0.7, 0.0]  # box 1 overlaps box 0 (IoU 0.68) and is suppressed
    scores[0, 3, 1] = 0.6  # same place as box 0 but another class: kept
    out = {k: np.asarray(v) for k, v in detect(boxes, scores, image_size=(40, 20), max_detections=5).items()}
    assert out["detection_boxes"].shape == (1, 5, 4) and out["detection_scores"].shape == (1, 5)
    assert out["num_detections"][0] == 3
    np.testing.assert_allclose(out["detection_scores"][0], [0.9, 0.7, 0.6, 0, 0])
    np.testing.assert_array_equal(out["detection_classes"][0, :3], [1, 1, 2])  # 1-based label-map ids
    # normalized (ymin, xmin, ymax, xmax) of box 2 on a 40 (high) x 20 (wide) image
    np.testing.assert_allclose(out["detection_boxes"][0, 1], [0.5, 1.0, 0.75, 1.0])


def test_greedy_nms_keeps_the_right_boxes():
    boxes = np.array([[[0, 0, 10, 10], [20, 20, 30, 30], [1, 1, 11, 11], [21, 20, 31, 30], [50, 50, 60, 60]]],
                     np.float32)
    scores = np.array([[0.5, 0.9, 0.8, 0.95, 0.1]], np.float32)
    kept, kept_scores = [ops.convert_to_numpy(t) for t in greedy_nms(boxes, scores, max_outputs=4, iou_threshold=0.5)]
    np.testing.assert_allclose(kept_scores[0, :3], [0.95, 0.8, 0.1])
    np.testing.assert_allclose(kept[0, :3], boxes[0, [3, 2, 4]])
    assert kept_scores[0, 3] == -np.inf


def test_roi_align_gradient_spreads_each_output_over_its_neighbours():
    import tensorflow as tf

    features = tf.Variable(np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype(np.float32))
    rois = np.array([[[1, 1, 9, 7], [0, 2, 4, 11]], [[3, 3, 5, 5], [2, 0, 12, 12]]], np.float32)  # inside the map
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(roi_align(features, rois, output_size=3, sampling_ratio=2, stride=2.0))
    grad = tape.gradient(total, features).numpy()
    # each output is a weighted mean (weights summing to 1) of the features, so each image's gradient sums to
    # regions x bins x channels
    np.testing.assert_allclose(grad.sum(axis=(1, 2, 3)), [2 * 9 * 3] * 2, rtol=1e-5)
    assert (grad >= 0).all() and grad[0, :, 5].sum() == 0  # image 0's regions end left of column 5 (9 / 2 - 0.5)


def test_roi_align_against_hand_computation():
    features = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]], np.float32)
    features = np.stack([features, features ** 2], axis=-1)[None]  # [1, 4, 4, 2]
    rois = np.array([[[0, 0, 8, 8], [2, 2, 6, 6]]], np.float32)  # stride 2: feature cells [-0.5, 3.5] and [0.5, 2.5]
    out = ops.convert_to_numpy(roi_align(features, rois, output_size=2, sampling_ratio=2, stride=2.0))
    assert out.shape == (1, 2, 2, 2, 2)
    # roi 0, bin (0, 0): samples at rows/cols {0, 1} → mean of 1, 2, 5, 6 (and of their squares)
    np.testing.assert_allclose(out[0, 0, 0, 0], [3.5, (1 + 4 + 25 + 36) / 4])
    np.testing.assert_allclose(out[0, 0, 1, 1], [13.5, (121 + 144 + 225 + 256) / 4])
    # roi 1, bin (0, 1): rows {0.75, 1.25}, cols {1.75, 2.25}; bilinear on the linear channel = value at the point
    expected = np.mean([4 * y + x + 1 for y in (0.75, 1.25) for x in (1.75, 2.25)])
    np.testing.assert_allclose(out[0, 1, 0, 1, 0], expected, rtol=1e-6)
    # squared channel: bilinear interpolation by hand at (0.75, 1.75)
    f = features[0, :, :, 1]
    point = 0.25 * 0.25 * f[0, 1] + 0.25 * 0.75 * f[0, 2] + 0.75 * 0.25 * f[1, 1] + 0.75 * 0.75 * f[1, 2]
    corners = [point]
    for y, x in ((0.75, 2.25), (1.25, 1.75), (1.25, 2.25)):
        y0, x0 = int(y), int(x)
        wy, wx = y - y0, x - x0
        corners.append((1 - wy) * (1 - wx) * f[y0, x0] + (1 - wy) * wx * f[y0, x0 + 1] + wy * (1 - wx) * f[y0 + 1, x0]
                       + wy * wx * f[y0 + 1, x0 + 1])
    np.testing.assert_allclose(out[0, 1, 0, 1, 1], np.mean(corners), rtol=1e-6)


def test_smooth_l1_and_focal_against_formulas():
    np.testing.assert_allclose(ops.convert_to_numpy(smooth_l1([[0, 0, 0, 0]], [[0.5, -2.0, 0.0, 1.0]], beta=1.0)),
                               [0.125 + 1.5 + 0.0 + 0.5], rtol=1e-6)
    logits = np.array([[2.0, -1.0]], np.float32)
    p = 1 / (1 + np.exp(-logits[0]))
    expected = -0.25 * (1 - p[0]) ** 2 * np.log(p[0]) - 0.75 * p[1] ** 2 * np.log(1 - p[1])
    np.testing.assert_allclose(ops.convert_to_numpy(sigmoid_focal([[1.0, 0.0]], logits)), [expected], rtol=1e-4)
    with pytest.raises(ValueError, match="Invalid beta"):
        smooth_l1([[0.0]], [[1.0]], beta=0)


def test_hard_negative_mask_keeps_three_hardest_negatives_per_positive():
    losses = np.array([[0.1, 0.9, 0.5, 0.7, 0.3, 0.8, 0.2, 0.0]], np.float32)
    positive = np.array([[True] + [False] * 7])
    negative = np.array([[False, True, True, True, True, False, True, True]])  # anchor 5 is ignored
    mask = ops.convert_to_numpy(hard_negative_mask(losses, positive, negative, negative_ratio=3))
    np.testing.assert_array_equal(mask[0], [True, True, True, True, False, False, False, False])


def test_coco_eval_perfect_prediction_is_map_one_and_a_miss_lowers_it():
    truth = [{"boxes": [[10, 10, 40, 50], [50, 5, 90, 30], [-1, -1, -1, -1]], "classes": [3, 7, -1]},
             {"boxes": [[0, 0, 20, 20]], "classes": [1]}]
    perfect = [{"boxes": [[10, 10, 40, 50], [50, 5, 90, 30]], "classes": [3, 7], "scores": [0.9, 0.8]},
               {"boxes": [[0, 0, 20, 20]], "classes": [1], "scores": [0.7]}]
    figures = coco_evaluate(perfect, truth, num_classes=10)
    assert figures["mAP"] == pytest.approx(1.0) and figures["mAP50"] == pytest.approx(1.0)
    wrong_class = [perfect[0], {"boxes": [[0, 0, 20, 20]], "classes": [2], "scores": [0.7]}]
    figures = coco_evaluate(wrong_class, truth, num_classes=10)
    assert figures["mAP50"] < 0.9
    assert figures["agnostic_mAP"] == pytest.approx(1.0)  # right boxes, a wrong class: found, not named
    per_class = figures["class_AP50"]  # the mislabelled class 1 scores 0, class 2 has no ground truth
    assert (per_class["1"], per_class["2"], per_class["3"], per_class["7"]) == (0.0, -1.0, 1.0, 1.0)
    assert figures["mAP50"] == pytest.approx(np.mean([v for v in per_class.values() if v >= 0]))
    shifted = [perfect[0], {"boxes": [[10, 10, 30, 30]], "classes": [1], "scores": [0.7]}]  # IoU 0.14 with truth
    assert coco_evaluate(shifted, truth, num_classes=10)["agnostic_mAP50"] < 0.9
    empty = [{"boxes": np.zeros((0, 4)), "classes": [], "scores": []}] * 2
    assert coco_evaluate(empty, truth, num_classes=10)["mAP"] == 0.0


def test_coco_mask_ap_of_perfect_masks_is_one():
    masks = np.zeros((2, 32, 32), bool)
    masks[0, 2:10, 3:12] = True
    masks[1, 15:30, 10:20] = True
    truth = [{"boxes": [[3, 2, 12, 10], [10, 15, 20, 30]], "classes": [0, 5], "masks": masks}]
    pred = [{**truth[0], "scores": [0.9, 0.5]}]
    figures = coco_evaluate(pred, truth, num_classes=6, masks=True)
    assert figures["mask_mAP"] == pytest.approx(1.0) and figures["mAP"] == pytest.approx(1.0)
