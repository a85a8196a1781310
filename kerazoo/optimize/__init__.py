"""kerazoo.optimize: compress trained models — pruning, weight clustering, quantization, distillation, low rank.

Modules (imported on demand; tensorflow-model-optimization loads only when a tfmot stage runs):

- ``bridge``: Keras 3 ↔ tf_keras, the models tfmot accepts (same names, weights, outputs).
- ``prune``, ``cluster``, ``quantize``: the tfmot stages, each Keras 3 in, Keras 3 (or TFLite) out.
- ``distill``: teacher/student training wrapper; ``lowrank``: truncated-SVD factorization.
- ``pipeline``: ``compress_run`` (prune → cluster → quantize, fine-tuned, measured, published); ``report``: figures.
"""
