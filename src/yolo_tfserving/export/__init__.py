"""PyTorch/ONNX -> TF Serving model repository (needs the export extra)."""
