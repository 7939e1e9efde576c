"""gpuform: typed stacks for DeepSeek-class models on bare-metal GPUs, synthesized with cdktf."""

__version__ = "0.1.0"
