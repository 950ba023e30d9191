"""Serving on ONNX Runtime: the model runner, heat maps and the model set a process exposes."""
