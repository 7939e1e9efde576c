"""Typed specs (pydantic v2) that stack files are written in."""

from ..engines import EngineKind
from .deployment import Deployment
from .endpoint import Endpoint
from .engine import Engine
from .errors import one_line
from .model import Model, Precision
from .nodes import Image, NodeGroup
from .stack import StackSpec
from .weights import WeightCache, WeightVolume

__all__ = [
    "Deployment",
    "Endpoint",
    "Engine",
    "EngineKind",
    "Image",
    "Model",
    "NodeGroup",
    "Precision",
    "StackSpec",
    "WeightCache",
    "WeightVolume",
    "one_line",
]
