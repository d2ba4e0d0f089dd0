"""Embedding: decode photos, build the ONNX model, turn photos into vectors."""
