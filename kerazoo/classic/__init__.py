"""kerazoo.classic: the image-classification lecture's baselines, a linear classifier and k-nearest neighbours.

    from kerazoo.classic import LinearClassifier, KNNClassifier
    clf = LinearClassifier(loss="multiclass_hinge").fit(train_images, train_labels)
    knn = KNNClassifier(ks=(1, 3, 5), metrics=("l1", "l2")).fit(train_images, train_labels)   # k by 5-fold CV
    knn.score(test_images, test_labels)
"""

from kerazoo.classic.knn import KNNClassifier, model_features, retrieve
from kerazoo.classic.linear import LinearClassifier

__all__ = ["KNNClassifier", "LinearClassifier", "model_features", "retrieve"]
