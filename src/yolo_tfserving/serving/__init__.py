"""The embedded model server: TF Serving's REST and gRPC contract on TensorFlow's runtime."""
