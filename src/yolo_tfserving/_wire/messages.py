"""Every message class of the request/response schema in one namespace, for code that takes them by name.

``messages().PredictRequest`` is ``serving_apis_pb2.PredictRequest``, ``messages().TensorProto`` is
``tf_core_pb2.TensorProto`` and so on: the generated classes themselves, gathered from :mod:`.tf_core_pb2`,
:mod:`.tf_example_pb2` and :mod:`.serving_apis_pb2`. The attributes are typed ``Any``: this is the namespace
code written against the former hand-built ``client._protos.messages()`` uses. New code imports the
generated modules, whose classes the ``.pyi`` stubs type field by field; config messages are in
:mod:`.serving_config_pb2`.
"""

from __future__ import annotations

from typing import Any

from . import _pool
from . import serving_apis_pb2 as _apis
from . import tf_core_pb2 as _core
from . import tf_example_pb2 as _example

__all__ = ["Messages", "messages"]


class Messages:
    """The classes, as class attributes (never instantiated); typed ``Any`` (see the module)."""

    # package tensorflow
    TensorProto: Any = _core.TensorProto
    TensorShapeProto: Any = _core.TensorShapeProto
    TensorInfo: Any = _core.TensorInfo
    SignatureDef: Any = _core.SignatureDef
    Example: Any = _example.Example
    SequenceExample: Any = _example.SequenceExample
    Features: Any = _example.Features
    Feature: Any = _example.Feature
    FeatureList: Any = _example.FeatureList
    FeatureLists: Any = _example.FeatureLists
    BytesList: Any = _example.BytesList
    FloatList: Any = _example.FloatList
    Int64List: Any = _example.Int64List
    # package tensorflow.serving
    ModelSpec: Any = _apis.ModelSpec
    PredictRequest: Any = _apis.PredictRequest
    PredictResponse: Any = _apis.PredictResponse
    SignatureDefMap: Any = _apis.SignatureDefMap
    GetModelMetadataRequest: Any = _apis.GetModelMetadataRequest
    GetModelMetadataResponse: Any = _apis.GetModelMetadataResponse
    StatusProto: Any = _apis.StatusProto
    GetModelStatusRequest: Any = _apis.GetModelStatusRequest
    GetModelStatusResponse: Any = _apis.GetModelStatusResponse
    ModelVersionStatus: Any = _apis.ModelVersionStatus
    Input: Any = _apis.Input
    ExampleList: Any = _apis.ExampleList
    ExampleListWithContext: Any = _apis.ExampleListWithContext
    Class: Any = _apis.Class
    Classifications: Any = _apis.Classifications
    ClassificationResult: Any = _apis.ClassificationResult
    ClassificationRequest: Any = _apis.ClassificationRequest
    ClassificationResponse: Any = _apis.ClassificationResponse
    Regression: Any = _apis.Regression
    RegressionResult: Any = _apis.RegressionResult
    RegressionRequest: Any = _apis.RegressionRequest
    RegressionResponse: Any = _apis.RegressionResponse
    InferenceTask: Any = _apis.InferenceTask
    InferenceResult: Any = _apis.InferenceResult
    MultiInferenceRequest: Any = _apis.MultiInferenceRequest
    MultiInferenceResponse: Any = _apis.MultiInferenceResponse
    ReloadConfigRequest: Any = _apis.ReloadConfigRequest
    ReloadConfigResponse: Any = _apis.ReloadConfigResponse
    PredictionLog: Any = _apis.PredictionLog
    PredictLog: Any = _apis.PredictLog
    # well-known types of our pool (what the fields above hold; protobuf's any_pb2.Any is another class)
    AnyMessage: Any = _pool.message_class("google.protobuf.Any")
    Int64Value: Any = _pool.message_class("google.protobuf.Int64Value")


def messages() -> type[Messages]:
    """The :class:`Messages` namespace."""
    return Messages
