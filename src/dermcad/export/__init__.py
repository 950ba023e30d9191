"""ONNX export with a parity check, int8 quantization and packaging (needs the training extra)."""
