"""Sizing: from model and shape to GPUs, parallelism, context length and cost."""
