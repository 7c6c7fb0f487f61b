"""The learned vesicle segmenter: a small U-Net run with onnxruntime, then a seeded watershed."""
