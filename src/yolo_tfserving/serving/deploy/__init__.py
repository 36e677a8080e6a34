"""``deploy``: ready-to-apply files that run a model repository on the official ``tensorflow/serving`` image.

The repository is the one ``export`` writes::

    <repo>/models.config               ModelServerConfig, base_path "/models/<name>"
    <repo>/batching_parameters.txt     BatchingParameters
    <repo>/monitoring.config           MonitoringConfig (Prometheus)
    <repo>/<name>/<version>/saved_model.pb
    <repo>/<name>/<version>/assets.extra/yolo_tfserving.json   (may name "tensorflow_version")

Targets (one file each, plus a ``README.md`` that says how to apply what is in ``out``):

* ``docker``  -> ``run.sh``: one ``docker run``, the repository mounted read-only at ``/models``.
* ``compose`` -> ``docker-compose.yml``: the same, with a healthcheck on ``/v1/models/<name>``.
* ``k8s``     -> ``k8s.yaml``: ConfigMap, PersistentVolumeClaim, Deployment, Service, HorizontalPodAutoscaler.
* ``kserve``  -> ``kserve.yaml``: ConfigMap, PersistentVolumeClaim and a KServe ``InferenceService``.

The image tag is the TensorFlow version that built the model (TF Serving releases track TensorFlow's),
compared numerically. Only the standard library is used: the YAML is written here, not by PyYAML.

The code lives in private modules, one job each: ``_repository`` (reading the repository), ``_image``
(choosing the image), ``_common`` (ports, config names, options, the server's flags), ``_yaml`` (the writer),
``_manifests`` (Kubernetes objects shared by ``k8s`` and ``kserve``), one module per target (``_docker``,
``_compose``, ``_kubernetes``, ``_kserve``), ``_readme`` and ``_targets`` (the table and :func:`deploy`).
"""

from __future__ import annotations

from ._common import server_args
from ._image import image_for, installed_tensorflow_version, serving_version_for
from ._targets import TARGETS, deploy
from ._yaml import to_yaml

__all__ = [
    "TARGETS",
    "deploy",
    "image_for",
    "installed_tensorflow_version",
    "server_args",
    "serving_version_for",
    "to_yaml",
]
