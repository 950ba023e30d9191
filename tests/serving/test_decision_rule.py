"""Evaluation and serving share one decision rule: the metrics count the labels the API returns.

One set of predictions (the tiny exported model on its images, through the runner and the result
records the API and ``dermcad predict`` return) is scored by evaluation at the manifest's threshold;
its confusion matrix, accuracy and ``predicted`` column must count exactly the returned labels.
"""

from __future__ import annotations

import numpy as np

from dermcad.evaluation.metrics import balanced_accuracy, confusion_matrix
from dermcad.evaluation.outputs import predictions_frame
from dermcad.evaluation.summary import split_metrics
from dermcad.inference.models import ModelsConfig, open_models
from dermcad.inference.predict import predict_files
from serving.tiny import Tiny


def test_evaluation_counts_the_labels_the_api_returns(tiny: Tiny) -> None:
    (runner,) = open_models(ModelsConfig.one_package(tiny.package)).values()
    manifest = runner.manifest
    images = [(path.name, path) for path in tiny.images]
    items = predict_files(runner, images, tiny.model_id, tta=1)
    returned = np.array([manifest.classes.index(i["prediction"]["prediction"]) for i in items])
    assert [i["prediction"]["label"] for i in items] == returned.tolist()
    probs = np.array([[i["probabilities"][c] for c in manifest.classes] for i in items])
    truth = np.asarray(tiny.labels)
    # The case this test is about: the threshold makes some labels differ from a bare argmax.
    assert (returned != probs.argmax(axis=1)).any()

    metrics = split_metrics(
        truth, probs, manifest.classes, threshold=manifest.threshold, tta=1, n_boot=10
    )
    expected = confusion_matrix(truth, returned, len(manifest.classes))
    assert metrics["confusion_matrix"] == expected.tolist()
    assert metrics["accuracy"] == float(np.mean(truth == returned))
    assert metrics["balanced_accuracy"] == balanced_accuracy(truth, returned)
    frame = predictions_frame(
        [name for name, _ in images], truth, probs, manifest.classes, manifest.threshold
    )
    assert frame["predicted"].tolist() == [i["prediction"]["prediction"] for i in items]
    assert frame["flagged_melanoma"].tolist() == [i["prediction"]["target"] for i in items]
