"""Weight clustering (k-means weight sharing; Han et al., 2016, "Deep Compression") with tfmot.

Each clustered kernel keeps only ``clusters`` distinct values (its centroids), fine-tuned together; the file does not
shrink until it is compressed (gzip) or quantized, since the weights are still stored as float32 — so the size that
matters is :func:`kerazoo.optimize.report.gzip_size`.

    clustered = cluster_model(model, train_ds, clusters=16, epochs=1)    # Keras 3 in, Keras 3 out (stripped)
"""

from __future__ import annotations


def _tfmot_clustering():
    import tensorflow_model_optimization as tfmot

    return tfmot.clustering.keras


def check_clusters(clusters: int) -> int:
    if not isinstance(clusters, int) or clusters < 2:
        raise ValueError(f"Invalid clusters: expected an integer >= 2. Received: clusters={clusters!r}")
    return clusters


def clusterable_layer_names(tf_keras_model, exclude=()) -> list[str]:
    """Layers whose kernels tfmot can cluster (Dense, Conv, ...), minus ``exclude``."""
    from tensorflow_model_optimization.python.core.clustering.keras import clustering_registry

    from kerazoo.optimize.prune import prunable_layer_names  # validates ``exclude`` the same way

    prunable_layer_names(tf_keras_model, exclude)
    return [
        layer.name for layer in tf_keras_model.layers
        if layer.name not in exclude and layer.weights and clustering_registry.ClusteringRegistry.supports(layer)
    ]


def apply_clustering(tf_keras_model, clusters: int, *, exclude=(), preserve_sparsity: bool = False):
    """``tf_keras_model`` with its clusterable layers wrapped by ``cluster_weights`` (k-means++ initialization).

    ``preserve_sparsity=True`` keeps pruned zeros at zero (sparsity-preserving clustering, for prune → cluster).
    """
    import tf_keras

    from kerazoo.optimize.prune import copy_into_wrapped

    check_clusters(clusters)
    targets = set(clusterable_layer_names(tf_keras_model, exclude))
    if not targets:
        raise ValueError(f"Model {tf_keras_model.name!r} has no clusterable layer left (exclude={list(exclude)}).")
    clustering = _tfmot_clustering()
    options = {"number_of_clusters": clusters,
               "cluster_centroids_init": clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
               "preserve_sparsity": preserve_sparsity}

    def fresh(layer):
        return layer.__class__.from_config(layer.get_config())

    # Wrap after the weights are in: k-means++ initializes the centroids from the weights it sees.
    clone = tf_keras.models.clone_model(tf_keras_model, clone_function=fresh)
    copy_into_wrapped(tf_keras_model, clone)
    return tf_keras.models.clone_model(
        clone, clone_function=lambda layer: clustering.cluster_weights(layer, **options) if layer.name in targets
        else layer,
    )


def strip(tf_keras_model):
    """The model without clustering wrappers: plain layers whose kernels hold only the centroid values."""
    return _tfmot_clustering().strip_clustering(tf_keras_model)


def cluster_model(model, train_ds, *, clusters: int = 16, epochs: int = 1, exclude=(), preserve_sparsity: bool = False,
                  lr: float = 1e-5, steps_per_epoch: int | None = None, verbose: int = 0):
    """Cluster a Keras 3 model's kernels into ``clusters`` shared values, fine-tune the centroids on ``train_ds`` for
    ``epochs`` (0: cluster only), and return the stripped Keras 3 model."""
    from kerazoo.optimize.bridge import to_keras, to_tf_keras
    from kerazoo.optimize.finetune import fine_tune

    wrapped = apply_clustering(to_tf_keras(model), clusters, exclude=exclude, preserve_sparsity=preserve_sparsity)
    if epochs > 0:
        fine_tune(wrapped, train_ds, epochs=epochs, lr=lr, steps_per_epoch=steps_per_epoch, verbose=verbose)
    return to_keras(strip(wrapped), like=model)
