"""TensorFlow's and TF Serving's wire schema, compiled from our own ``.proto`` files, without TensorFlow.

The ``.proto`` files here define the messages and services with TensorFlow 2.19 / TF Serving 2.19's full
names, field numbers, types, labels, oneofs, maps and enum values, so our bytes are theirs; the ``*_pb2`` /
``*_pb2_grpc`` modules next to them are generated (``make protos``, ``scripts/gen_protos.py``) and committed,
typed by mypy-protobuf's ``.pyi`` stubs. Their descriptors live in a private pool (:mod:`._pool`), never in
protobuf's default pool where TensorFlow registers the same names: the classes are therefore *not*
TensorFlow's (convert through bytes), and both can be imported in one process.

Modules (import them directly; this package imports nothing heavy):

- :mod:`.tf_core_pb2` -- ``tensorflow``: DataType, TensorShapeProto, TensorProto, TensorInfo, SignatureDef ...
- :mod:`.tf_example_pb2` -- ``tensorflow``: Example, SequenceExample, Features, Feature ...
- :mod:`.tf_error_pb2` -- ``tensorflow.error``: Code
- :mod:`.serving_apis_pb2` -- ``tensorflow.serving``: ModelSpec, PredictRequest/Response, ..., PredictionLog
- :mod:`.serving_config_pb2` -- ``tensorflow.serving``: ModelServerConfig, MonitoringConfig, SSLConfig,
  PlatformConfigMap, BatchingParameters ...
- :mod:`.serving_service_pb2_grpc` -- PredictionService and ModelService stubs/servicers (imports grpc)
- :mod:`.profiler_pb2` / :mod:`.profiler_pb2_grpc` -- ``tensorflow.ProfilerService``
- :mod:`.health_pb2` / :mod:`.health_pb2_grpc` -- ``grpc.health.v1.Health``
- :mod:`.tensors` -- numpy <-> TensorProto
- :mod:`.services` -- service names, method paths and stub factories
- :mod:`.formats` -- json_format / text_format bound to the private pool
"""
