"""Our own implementation of the YOLOv5 layers found in checkpoints (needs the export extra)."""
