"""Training and fine-tuning of the learned vesicle segmenter.

Needs the ``[train]`` extra (PyTorch and onnx); nothing outside this package
imports it, so running exo_vision never needs a training framework.
"""
