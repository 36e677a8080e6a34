"""The light client: no TensorFlow, no PyTorch."""
