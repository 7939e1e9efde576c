"""Typed specs (pydantic v2) that stack files are written in."""

from ..engines import EngineKind
from .deployment import Deployment
from .endpoint import Endpoint
from .engine import Engine
from .errors import one_line
from .model import Model, Precision
from .nodes import Image, NodeGroup
from .stack import StackSpec
from .storage import SharedStorage
from .training import Training, TrainingStackSpec
from .weights import WeightCache, WeightVolume

AnyStack = StackSpec | TrainingStackSpec
"""What a stack file defines: a serving stack, or a training cluster."""

__all__ = [
    "AnyStack",
    "Deployment",
    "Endpoint",
    "Engine",
    "EngineKind",
    "Image",
    "Model",
    "NodeGroup",
    "Precision",
    "SharedStorage",
    "StackSpec",
    "Training",
    "TrainingStackSpec",
    "WeightCache",
    "WeightVolume",
    "one_line",
]
