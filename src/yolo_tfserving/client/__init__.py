"""The light client: no TensorFlow, no PyTorch (numpy, Pillow, httpx; grpcio for gRPC)."""

from .classification import Classification
from .client import AsyncClient, Client
from .detections import Detections

__all__ = ["AsyncClient", "Classification", "Client", "Detections"]
