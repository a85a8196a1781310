"""Captioning: grounded scene captions, soft attention, masked loss, greedy vs beam search, the transformer decoder's
length limit, teacher-forced training, a run directory with its CLI, and COCO Captions under tfds mock data."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import yaml

from kerazoo.cli import main
from kerazoo.runs import RunDir
from kerazoo.sequence import captioning
from kerazoo.sequence.caption_data import (SCENE_WORDS, CaptionVocabulary, coco_caption_data, scene_caption,
                                           scene_caption_data, tokenize)
from kerazoo.sequence.captioning import (AttentionLSTMDecoder, SoftAttention, beam_search, caption_loss,
                                        caption_model, greedy_decode)

BOX = {"top_left": [0, 0, 10, 10], "bottom_left": [0, 40, 10, 50], "top_right": [40, 2, 50, 12],
       "bottom_right": [40, 60, 50, 70]}


@pytest.mark.parametrize("classes, boxes, expected", [
    ([8, 5, 6], [BOX["top_left"], BOX["bottom_left"], BOX["bottom_right"]], "a bag above a sandal and a shirt"),
    ([8, 5, 6], [BOX["top_left"], BOX["bottom_left"], BOX["top_right"]], "a bag left of a shirt and a sandal"),
    ([5, 8], [BOX["top_right"], BOX["top_left"]], "a bag left of a sandal"),
    ([3, 9], [BOX["top_right"], BOX["top_left"]], "a boot left of a dress"),
    ([0], [BOX["top_left"]], "a top"),
    ([], [], "an empty scene"),
])
def test_scene_caption_grammar(classes, boxes, expected):
    assert scene_caption(np.array(classes), np.array(boxes, dtype="float32"), len(classes)) == expected


def test_scene_captions_name_exactly_the_scenes_objects(idx_data_dir):
    data = scene_caption_data("test", 12, canvas=48, max_objects=3, seed=4, data_dir=idx_data_dir)
    assert data.images.shape == (12, 48, 48, 1) and data.images.dtype == np.uint8
    for refs, classes in zip(data.captions, data.classes):
        nouns = sorted(w for w in tokenize(refs[0]) if w in SCENE_WORDS)
        assert nouns == sorted(SCENE_WORDS[c] for c in classes)


@pytest.mark.parametrize("caption, classes, named", [
    ("a bag above a sandal and a shirt", [8, 5, 6], 3),
    ("a bag above a sandal and a top", [8, 5, 6], 2),  # a wrong garment word
    ("a bag left of a bag", [8, 8], 2),
    ("a bag", [8, 8], 1),  # one bag of two: a word counts as often as it appears
    ("a bag left of a bag", [8], 1),  # naming more than there is earns nothing
    ("an empty scene", [], 0),
])
def test_objects_named_counts_each_object_once(caption, classes, named):
    assert captioning.objects_named(tokenize(caption), classes) == named


def test_naming_figures_by_scene_size_and_by_class():
    captions = [tokenize(c) for c in ("a bag above a top", "a bag left of a shirt", "a bag", "a coat")]
    classes = [[8, 0], [8, 0], [8], [6]]  # the second names a shirt for a top; the last a coat for a shirt
    figures = captioning.naming_figures(captions, classes)
    assert figures["object_recall"] == 0.5 and figures["object_recall_by_count"] == {"1": 0.5, "2": 0.5}
    assert figures["objects_named"] == 4 / 6
    assert figures["named_by_class"] == {"top": 0.5, "shirt": 0.0, "bag": 1.0}


def test_vocabulary_encodes_with_start_end_and_padding():
    vocab = CaptionVocabulary.from_captions(["a bag above a shirt", "a bag"])
    assert vocab.words[:4] == ("<pad>", "<start>", "<end>", "<unk>") and vocab.words[4] == "a"
    ids = vocab.encode("a bag above a coat", 7)
    assert ids.tolist()[0] == 1 and ids.tolist()[6] == 2 and len(ids) == 8 and ids[-1] == 0
    assert vocab.decode(ids) == ["a", "bag", "above", "a", "<unk>"]
    with pytest.raises(ValueError, match="Caption too long: 5 words.*at most max_length - 1 = 3"):
        vocab.encode("a bag above a coat", 4)
    assert vocab.decode(vocab.encode("a bag above a coat", 4, truncate=True)) == ["a", "bag", "above"]


def test_soft_attention_weights_sum_to_one_and_average_the_features():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(3, 7, 5)).astype("float32")
    context, alpha = SoftAttention(8, name="attention")(features, rng.normal(size=(3, 4)).astype("float32"))
    alpha, context = keras.ops.convert_to_numpy(alpha), keras.ops.convert_to_numpy(context)
    assert alpha.shape == (3, 7) and (alpha > 0).all()
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(context, np.einsum("bl,bld->bd", alpha, features), rtol=1e-5, atol=1e-6)


def test_decoder_without_attention_looks_at_the_mean_feature():
    decoder = AttentionLSTMDecoder(6, units=4, embed_dim=3, attention=False, name="decoder")
    features = np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32")
    logits, alphas = decoder.attention_maps(features, np.ones((2, 3), "int32"))
    assert logits.shape == (2, 3, 6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alphas), np.full((2, 3, 5), 0.2), rtol=1e-6)


def test_loss_ignores_padded_targets():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 4, 5)).astype("float32")
    targets = np.array([[3, 4, 2, 0], [4, 2, 0, 0]])
    shifted = logits - logits.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    real = targets != 0
    expected = -np.take_along_axis(log_probs, targets[..., None], -1)[..., 0][real].mean()
    loss = float(caption_loss()(targets, logits))
    np.testing.assert_allclose(loss, expected, rtol=1e-5)
    changed = logits.copy()
    changed[~real] += rng.normal(size=(int((~real).sum()), 5)) * 10
    np.testing.assert_allclose(float(caption_loss()(targets, changed)), loss, rtol=1e-6)


def _tiny_model(decoder="lstm", attention=True, max_length=6):
    keras.utils.set_random_seed(0)
    return caption_model(9, backbone="lenet5", image_shape=(32, 32, 1), decoder=decoder, attention=attention,
                         max_length=max_length, units=16, embed_dim=8, feature_dim=16)


def _sequence_log_prob(model, image, ids):
    tokens = np.zeros((1, captioning._max_length(model)), "int32")
    full = [1, *ids]
    tokens[0, : len(full) - 1] = full[:-1]
    logits = keras.ops.convert_to_numpy(model([image[None], tokens]))[0]
    log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) - \
        logits.max(-1, keepdims=True)
    return sum(log_probs[t, w] for t, w in enumerate(ids))


@pytest.mark.parametrize("decoder", ["lstm", "transformer"])
def test_beam_width_one_is_greedy_and_wider_beams_score_at_least_as_well(decoder):
    model = _tiny_model(decoder)
    images = np.random.default_rng(3).uniform(0, 255, size=(3, 32, 32, 1)).astype("float32")
    greedy, greedy_alphas = greedy_decode(model, images)
    assert greedy.shape == (3, 6) and greedy_alphas.shape[:2] == (3, 6)
    np.testing.assert_allclose(greedy_alphas.sum(-1), 1.0, rtol=1e-5)
    for k, image in enumerate(images):
        ids, alphas = beam_search(model, image, beam_width=1)
        np.testing.assert_array_equal(ids, greedy[k][: len(ids)])
        np.testing.assert_allclose(alphas, greedy_alphas[k][: len(ids)], rtol=1e-5, atol=1e-6)
    wide, _ = beam_search(model, images[0], beam_width=3)
    narrow, _ = beam_search(model, images[0], beam_width=1)
    assert _sequence_log_prob(model, images[0], wide) >= _sequence_log_prob(model, images[0], narrow) - 1e-4


def test_lengths_beyond_the_model_are_errors():
    model = _tiny_model("transformer", max_length=4)
    with pytest.raises(ValueError, match=r"Invalid max_length: expected an integer in \[1, 4\].*max_length=9"):
        greedy_decode(model, np.zeros((1, 32, 32, 1), "float32"), max_length=9)
    features = np.zeros((1, 5, 16), "float32")
    with pytest.raises(ValueError, match="position embeddings for max_length=4 tokens. Received 5 tokens"):
        model.get_layer("decoder").attention_maps(features, np.ones((1, 5), "int32"))
    with pytest.raises(ValueError, match="Invalid beam_width"):
        beam_search(model, np.zeros((32, 32, 1), "float32"), beam_width=0)


@pytest.fixture(scope="module")
def caption_run(tmp_path_factory, idx_data_dir):
    folder = tmp_path_factory.mktemp("caption")
    return captioning.train_captioner(
        str(folder / "run"), backbone="lenet5", attention=True, canvas=32, max_objects=2, train_count=24,
        val_count=8, test_count=6, max_length=8, units=16, embed_dim=8, feature_dim=16, epochs=3, batch_size=8,
        learning_rate=1e-2, data_dir=idx_data_dir, run_eagerly=True, verbose=0,
    )


def test_teacher_forced_training_lowers_the_loss_and_writes_the_run(caption_run):
    records = RunDir(caption_run).read_metrics()
    assert len(records) == 3 and records[-1]["loss"] < records[0]["loss"]
    summary = RunDir(caption_run).read_summary()
    assert {"bleu1", "bleu4", "object_recall", "objects_named"} <= set(summary) and 0 <= summary["bleu1"] <= 1
    model, vocab, config = captioning.load_caption_run(caption_run)
    grammar = {"<pad>", "<start>", "<end>", "<unk>", "a", "an", "above", "left", "right", "of", "and", "empty",
               "scene", *SCENE_WORDS}
    assert config.max_length == 8 and set(vocab.words) <= grammar


def test_the_run_is_a_service_run_of_the_captioning_task(caption_run):
    from kerazoo.training.run import load_run_config, load_run_info

    config = load_run_config(caption_run)
    assert config.task == "captioning" and config.task_options["backbone"] == "lenet5"
    assert (config.epochs, config.steps_per_epoch, config.data.batch_size) == (3, 3, 8)  # 24 scenes: 3 batches
    _, vocab, _ = captioning.load_caption_run(caption_run)
    assert tuple(load_run_info(caption_run).class_names) == vocab.words
    assert not os.path.exists(os.path.join(caption_run, "vocab.json")), "the vocabulary is dataset.json's class_names"


def test_predict_on_the_run_captions_each_image(caption_run, tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = [tmp_path / "in" / f"scene{i}.png" for i in range(2)]
    images[0].parent.mkdir()
    for path in images:
        keras.utils.save_img(str(path), rng.integers(0, 256, (32, 32, 1)).astype("uint8"), scale=False)
    expected = [captioning.caption_image(caption_run, str(path), beam_width=2)[0] for path in images]
    assert main(["predict", caption_run, str(images[0].parent), "--beam", "2", "--out", str(tmp_path / "maps")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if not line.startswith("attention maps")] == \
        [f"{path}: {caption}" for path, caption in zip(images, expected)]
    assert sorted(os.listdir(tmp_path / "maps")) == ["scene0.png", "scene1.png"]
    assert main(["predict", caption_run]) == 2
    assert "Missing IMAGE" in capsys.readouterr().err


def test_captioner_killed_in_training_resumes_to_the_uninterrupted_run(caption_run, tmp_path, monkeypatch,
                                                                       run_summary):
    from kerazoo.training import callbacks

    config = captioning.load_caption_run(caption_run)[2]
    backup_epoch_end = callbacks.AtomicBackupAndRestore.on_epoch_end

    def crash_after_epoch_2(self, epoch, logs=None):
        backup_epoch_end(self, epoch, logs)
        if epoch == 1:
            raise RuntimeError("simulated kill after epoch 2")

    monkeypatch.setattr(callbacks.AtomicBackupAndRestore, "on_epoch_end", crash_after_epoch_2)
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated kill"):
        captioning.train_captioner(out, config, verbose=0)
    monkeypatch.undo()
    begun = []
    logger_epoch_begin = callbacks.MetricsLogger.on_epoch_begin
    monkeypatch.setattr(callbacks.MetricsLogger, "on_epoch_begin",
                        lambda self, epoch, logs=None: (begun.append(epoch + 1), logger_epoch_begin(self, epoch, logs)))
    captioning.train_captioner(out, config, verbose=0)
    assert begun == [3], "only the epoch after the last backup runs again"
    # The third epoch read the batches it would have read without the kill (the stream skips the backed-up ones).
    assert RunDir(out).read_metrics() == RunDir(caption_run).read_metrics()
    assert run_summary(out) == run_summary(caption_run)
    assert not os.path.exists(os.path.join(out, "backup"))
    assert os.path.isdir(os.path.join(out, "tb", "train"))


def test_captioner_killed_in_its_final_evaluation_resumes_there(caption_run, tmp_path, monkeypatch, run_summary):
    from kerazoo.sequence.tasks import CaptioningTask
    from kerazoo.training import callbacks

    config = captioning.load_caption_run(caption_run)[2]

    def crash(self, model, config, **kwargs):
        raise RuntimeError("simulated kill in the final evaluation")

    monkeypatch.setattr(CaptioningTask, "evaluate", crash)
    out = str(tmp_path / "run")
    with pytest.raises(RuntimeError, match="simulated kill"):
        captioning.train_captioner(out, config, verbose=0)
    assert os.path.isdir(os.path.join(out, "backup")), "the backup outlives fit until summary.json is written"
    monkeypatch.undo()
    begun = []
    logger_epoch_begin = callbacks.MetricsLogger.on_epoch_begin
    monkeypatch.setattr(callbacks.MetricsLogger, "on_epoch_begin",
                        lambda self, epoch, logs=None: (begun.append(epoch + 1), logger_epoch_begin(self, epoch, logs)))
    captioning.train_captioner(out, config, verbose=0)
    assert begun == [], "every epoch was backed up: straight to the evaluation"
    assert RunDir(out).read_metrics() == RunDir(caption_run).read_metrics()
    assert run_summary(out) == run_summary(caption_run)
    assert os.path.exists(os.path.join(out, "summary.json")) and not os.path.exists(os.path.join(out, "backup"))


def test_finished_runs_are_kept_and_resumes_need_the_same_config(caption_run, tmp_path):
    from kerazoo.training.config import config_to_dict

    config = captioning.load_caption_run(caption_run)[2]
    before = os.path.getmtime(os.path.join(caption_run, "checkpoints", "best.keras"))
    with pytest.raises(FileExistsError, match="already complete.*--overwrite"):
        captioning.train_captioner(caption_run, config, verbose=0)
    assert os.path.getmtime(os.path.join(caption_run, "checkpoints", "best.keras")) == before
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    (interrupted / "config.yaml").write_text(yaml.safe_dump(config_to_dict(captioning.caption_train_config(config))))
    with pytest.raises(ValueError, match="different config \\(fields epochs differ\\)"):
        captioning.train_captioner(str(interrupted), config, epochs=5, verbose=0)


def test_cosine_schedule_decays_the_learning_rate_and_bad_names_are_errors(idx_data_dir, tmp_path):
    run = captioning.train_captioner(
        str(tmp_path / "run"), backbone="lenet5", canvas=32, max_objects=2, train_count=16, val_count=4, test_count=2,
        max_length=8, units=8, embed_dim=4, feature_dim=8, epochs=2, batch_size=8, learning_rate=1e-2,
        lr_schedule="cosine", data_dir=idx_data_dir, run_eagerly=True, verbose=0)
    rates = [r["lr"] for r in RunDir(run).read_metrics()]
    # 16 scenes in batches of 8: 2 steps an epoch, 4 in all; half-way down the cosine after epoch 1, 0 at the end
    np.testing.assert_allclose(rates, [5e-3, 0.0], atol=1e-6)
    with pytest.raises(ValueError, match="Invalid lr_schedule: expected one of constant, cosine.*'linear'"):
        captioning.train_captioner(str(tmp_path / "bad"), lr_schedule="linear")
    assert not os.path.exists(tmp_path / "bad")


def test_steps_per_epoch_gives_every_epoch_new_scenes(idx_data_dir, tmp_path, monkeypatch):
    batches = []  # the training images of every step, recorded by the model's train step
    original = keras.Model.train_step

    def recording_train_step(self, data):
        batches.append(keras.ops.convert_to_numpy(data[0]["images"]).reshape(len(data[1]), -1))
        return original(self, data)

    monkeypatch.setattr(keras.Model, "train_step", recording_train_step)
    # 20 scenes read as a stream, epochs of 2 batches of 4: two epochs take 16 of the first pass, each scene once
    run = captioning.train_captioner(
        str(tmp_path / "run"), backbone="lenet5", canvas=32, max_objects=2, train_count=20, val_count=4, test_count=2,
        max_length=8, units=8, embed_dim=4, feature_dim=8, epochs=2, batch_size=4, steps_per_epoch=2,
        lr_schedule="cosine", data_dir=idx_data_dir, run_eagerly=True, verbose=0)
    rates = [r["lr"] for r in RunDir(run).read_metrics()]
    np.testing.assert_allclose(rates, [5e-4, 0.0], atol=1e-6)  # 2 steps an epoch: the cosine spans 4 steps
    assert len(batches) == 4
    epochs = [{image.tobytes() for batch in batches[i: i + 2] for image in batch} for i in (0, 2)]
    assert len(epochs[0]) == len(epochs[1]) == 8 and not epochs[0] & epochs[1]
    with pytest.raises(ValueError, match="Invalid steps_per_epoch: expected a positive integer or None"):
        captioning.train_captioner(str(tmp_path / "zero"), steps_per_epoch=0)
    assert not os.path.exists(tmp_path / "zero")


def test_encoder_starts_from_a_classification_run(trained_run, idx_data_dir, tmp_path):
    from kerazoo.training import load_run_model

    classifier = load_run_model(trained_run)
    settings = dict(canvas=32, max_objects=2, train_count=8, val_count=4, test_count=2, max_length=8, units=8,
                    embed_dim=4, feature_dim=8, epochs=1, batch_size=8, data_dir=idx_data_dir, run_eagerly=True,
                    verbose=0)
    run = captioning.train_captioner(str(tmp_path / "run"), backbone="lenet5", backbone_from=trained_run,
                                     learning_rate=0.0, **settings)  # no step moves the weights: see what was copied
    model, _, config = captioning.load_caption_run(run)
    assert config.backbone_from == trained_run
    theirs, ours = classifier.get_layer("normalize"), model.get_layer("normalize")
    assert (ours.scale, ours.offset) == (theirs.scale, theirs.offset) and ours.scale != 1 / 255
    copied = [layer.name for layer in model.get_layer("backbone").layers if layer.weights]
    assert copied
    for name in copied:
        for mine, source in zip(model.get_layer("backbone").get_layer(name).get_weights(),
                                classifier.get_layer(name).get_weights()):
            np.testing.assert_array_equal(mine, source)
    with pytest.raises(ValueError, match="No backbone layer.*same backbone family"):
        captioning.train_captioner(str(tmp_path / "mismatch"), backbone="resnet20", backbone_from=trained_run,
                                   **settings)


def test_frozen_encoder_keeps_the_classifiers_weights(trained_run, idx_data_dir, tmp_path):
    from kerazoo.training import load_run_model

    classifier = load_run_model(trained_run)
    settings = dict(canvas=32, max_objects=2, train_count=16, val_count=4, test_count=2, max_length=8, units=8,
                    embed_dim=4, feature_dim=8, epochs=1, batch_size=8, data_dir=idx_data_dir, run_eagerly=True,
                    verbose=0, learning_rate=1e-2)
    run = captioning.train_captioner(str(tmp_path / "run"), backbone="lenet5", backbone_from=trained_run,
                                     freeze_encoder=True, **settings)
    model, _, config = captioning.load_caption_run(run, "last")
    assert config.freeze_encoder and not model.get_layer("backbone").trainable
    for layer in (layer for layer in model.get_layer("backbone").layers if layer.weights):  # padding layers have none
        for mine, source in zip(layer.get_weights(), classifier.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(mine, source)
    assert len(RunDir(run).read_metrics()) == 1  # it trained: the decoder took its steps
    with pytest.raises(ValueError, match="freeze_encoder=True without backbone_from"):
        captioning.train_captioner(str(tmp_path / "scratch"), freeze_encoder=True, **settings)
    assert not os.path.exists(tmp_path / "scratch")


def test_encoder_starts_from_pretrained_weights_on_raw_pixels(idx_data_dir, tmp_path, monkeypatch):
    """``backbone_weights``: a converted weights file made here (keras.applications' MobileNet file layout, random
    weights; nothing downloaded) starts the encoder, which takes the raw grey pixels into its own preprocessing."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    from kerazoo.applications import create_model, pretrained
    from kerazoo.applications.pretrained import files

    monkeypatch.setenv("KERAZOO_WEIGHTS_DIR", str(tmp_path / "cache"))
    reference = keras.applications.MobileNet(weights=None, input_shape=(32, 32, 3), alpha=0.25, include_top=False)
    source = str(tmp_path / "mobilenet_2_5_128_tf_no_top.h5")
    with h5py.File(source, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    tag = pretrained.get_tag("mobilenet_025", "keras_in1k_r128_notop")
    backbone = create_model("mobilenet_025", weights=source, include_top=False, input_shape=(32, 32, 3))
    converted = files.write_converted(backbone, tag, source, preprocessing=dataclasses.asdict(tag.preprocessing))
    settings = dict(canvas=32, max_objects=2, train_count=8, val_count=4, test_count=2, max_length=8, units=8,
                    embed_dim=4, feature_dim=8, epochs=1, batch_size=8, data_dir=idx_data_dir, run_eagerly=True,
                    verbose=0, learning_rate=1e-2)
    # MobileNet's 32x32 → 1x1 map has one position: nothing to attend over.
    run = captioning.train_captioner(str(tmp_path / "run"), backbone="mobilenet_025", backbone_weights=converted,
                                     freeze_encoder=True, attention=False, **settings)
    model, _, config = captioning.load_caption_run(run, "last")
    assert config.backbone_weights == converted
    names = [layer.name for layer in model.layers]
    assert "normalize" not in names and "to_rgb" in names
    encoder = model.get_layer("backbone")
    assert encoder.get_layer("preprocess").mode == "tf" and not encoder.trainable
    np.testing.assert_array_equal(encoder.get_layer("stem_conv").get_weights()[0],
                                  reference.get_layer("conv1").get_weights()[0])
    with pytest.raises(ValueError, match="Invalid backbone_weights=.* with backbone_from: they exclude each other"):
        captioning.train_captioner(str(tmp_path / "both"), backbone="mobilenet_025", backbone_weights=converted,
                                   backbone_from=run, **settings)


def test_caption_model_round_trips_keras_format(caption_run, tmp_path):
    model, _, _ = captioning.load_caption_run(caption_run)
    path = tmp_path / "cap.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    inputs = [np.random.default_rng(5).uniform(0, 255, size=(2, 32, 32, 1)).astype("float32"),
              np.array([[1, 4, 5, 6, 2, 0, 0, 0]] * 2, "int32")]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(inputs)), keras.ops.convert_to_numpy(model(inputs)),
                               rtol=1e-5, atol=1e-5)


def test_evaluate_scores_the_held_out_scenes_again_greedy_or_by_beam(caption_run, capsys):
    summary = RunDir(caption_run).read_summary()
    again = captioning.evaluate_caption_run(caption_run)
    assert {k: again[k] for k in ("bleu4", "object_recall", "samples")} == \
        {k: summary[k] for k in ("bleu4", "object_recall", "samples")}
    assert main(["evaluate", caption_run, "--beam", "2", "--limit", "4"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["beam_width"] == 2 and printed["examples"] == 4 and 0 <= printed["object_recall"] <= 1
    assert main(["evaluate", caption_run, "--limit", "0"]) == 2
    assert "Invalid limit" in capsys.readouterr().err


def test_evaluate_on_more_scenes_scores_the_runs_own_test_scenes_first(caption_run, capsys):
    _, _, config = captioning.load_caption_run(caption_run)
    own = captioning._load_data(config, "test", config.test_count, 2)
    more = captioning._load_data(config, "test", config.test_count + 4, 2)
    np.testing.assert_array_equal(more.images[:config.test_count], own.images)
    assert more.captions[:config.test_count] == own.captions
    assert main(["evaluate", caption_run, "--scenes", str(config.test_count + 4)]) == 0
    assert json.loads(capsys.readouterr().out)["examples"] == config.test_count + 4
    assert main(["evaluate", caption_run, "--scenes", "0"]) == 2
    assert "Invalid scenes" in capsys.readouterr().err


def test_cli_captions_an_image_and_draws_attention(caption_run, tmp_path, capsys):
    image_path = tmp_path / "scene.png"
    keras.utils.save_img(str(image_path), np.random.default_rng(0).uniform(0, 255, size=(32, 32, 1)))
    out = tmp_path / "attention.png"
    assert main(["caption", caption_run, str(image_path), "--beam", "2", "--out", str(out)]) == 0
    assert "attention maps written" in capsys.readouterr().out
    assert out.stat().st_size > 1000
    assert main(["caption", caption_run]) == 2
    assert main(["caption", caption_run, str(tmp_path / "missing.png")]) == 2


def test_cli_train_passes_its_options_to_the_library(monkeypatch, tmp_path):
    received = {}
    monkeypatch.setattr(captioning, "train_captioner", lambda out, **options: received.update(options) or out)
    out = str(tmp_path / "run")
    assert main(["caption", "train", "--out", out, "--limit", "600", "--steps-per-epoch", "5", "--attention",
                 "--lr-schedule", "cosine", "--backbone-weights", "imagenet"]) == 0
    assert received["backbone_weights"] == "imagenet"
    assert received["steps_per_epoch"] == 5 and received["train_count"] == 600
    assert received["attention"] is True and received["lr_schedule"] == "cosine"


def test_coco_captions_loader_reads_tfds_by_name():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=3, policy=tfds.testing.MockPolicy.USE_CODE):
        data = coco_caption_data("train", image_size=16, limit=2)
    assert data.images.shape == (2, 16, 16, 3) and data.images.dtype == np.uint8
    assert len(data.captions) == 2 and all(isinstance(c, str) for refs in data.captions for c in refs)
    vocab = CaptionVocabulary.from_captions([c for refs in data.captions for c in refs], max_words=10)
    assert len(vocab) <= 14
