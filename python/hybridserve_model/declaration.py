"""What a model is made of: its states, its physical parameters, its physics and optional correction as torch
modules, and the rest of its config. `HybridModel.config()` is the hybrid.v1.ModelConfig the server reads."""
import dataclasses
from typing import Any, Dict, Optional, Sequence

import torch
from google.protobuf import json_format

from hybrid.v1 import model_config_pb2

PHYSICS_FILE, CORRECTION_FILE = "physics.pt", "correction.pt"
COMPOSITIONS = ("additive", "serial", "parallel", "network_only")


@dataclasses.dataclass
class State:
    """One component of the state vector, in state order (the module sees x[..., i] for the i-th)."""
    name: str
    unit: str = "1"
    non_negative: bool = False  # An amount or density: forecasts and analyses stay ≥ 0.


@dataclasses.dataclass
class Parameter:
    """A physical parameter: theta[:, j] for the j-th, in physical units. The server owns it — stored
    unconstrained (log when positive), calibrated when trainable, kept within [lower, upper]."""
    name: str
    unit: str = "1"
    default: float = 1.0
    lower: float = 1e-6
    upper: float = 1e6
    positive: bool = True
    trainable: bool = True
    initial: Optional[float] = None  # Where calibration starts; None: the default.
    description: str = ""


@dataclasses.dataclass
class Observable:
    """A quantity sensors read of an entity, computed by the physics module's observe(self, x, theta): x [M, B, D],
    theta [M, P] → [M, B, K], column k for the k-th declared observable (an observation operator of any form;
    every state component is also an observable by its own name)."""
    name: str
    unit: str = "1"
    noise_std: float = 0.0  # Of a reading that gives none; 0: every reading must give its own.


@dataclasses.dataclass
class HybridModel:
    """A model to serve. `physics.forward(t, x, theta)`: t 0-dim, x [M, B, D], theta [M, P] → dx/dt [M, B, D].
    With `observables`, the physics module also has observe(x, theta) → [M, B, K].
    `correction.forward(x)`, optional: x [B, D] (one member's states) → [B, D], added to dx/dt as `composition`
    says; its weights are trained online. `settings`: any other ModelConfig fields, as a dict by field name
    (e.g. {"calibration": {"learning_rate_theta": 0.05}}), merged in last."""
    name: str
    physics: torch.nn.Module
    states: Sequence[State]
    parameters: Sequence[Parameter] = ()
    correction: Optional[torch.nn.Module] = None
    observables: Sequence[Observable] = ()
    composition: str = "additive"
    members: int = 8
    seed: int = 0
    dtype: str = "float64"
    description: str = ""
    settings: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def config(self) -> model_config_pb2.ModelConfig:
        """The config.pbtxt of this model, naming PHYSICS_FILE and CORRECTION_FILE beside it."""
        if not isinstance(self.physics, torch.nn.Module):
            raise TypeError(f"physics: a torch.nn.Module with forward(t, x, theta), got {type(self.physics)}")
        if self.correction is not None and not isinstance(self.correction, torch.nn.Module):
            raise TypeError(f"correction: a torch.nn.Module with forward(x), got {type(self.correction)}")
        if self.composition not in COMPOSITIONS:
            raise ValueError(f"composition: one of {', '.join(COMPOSITIONS)}, got {self.composition!r}")
        c = model_config_pb2.ModelConfig(name=self.name, description=self.description,
                                         physics=model_config_pb2.PHYSICS_KIND_TORCHSCRIPT,
                                         ensemble_members=self.members, seed=self.seed, dtype=self.dtype)
        c.torchscript.file = PHYSICS_FILE
        for s in self.states:
            c.torchscript.components.add(name=s.name, unit=s.unit, non_negative=s.non_negative)
        for p in self.parameters:
            c.torchscript.parameters.add(name=p.name, unit=p.unit, default_value=p.default, lower=p.lower,
                                         upper=p.upper, may_be_negative=not p.positive, description=p.description)
            c.parameters.add(name=p.name, initial=p.default if p.initial is None else p.initial,
                             trainable=p.trainable)
        for o in self.observables:
            c.observables.add(name=o.name, unit=o.unit, noise_std=o.noise_std, scripted=True)
        if self.correction is None:
            c.correction.composition = model_config_pb2.COMPOSITION_PHYSICS_ONLY
        else:
            c.correction.composition = model_config_pb2.Composition.Value(f"COMPOSITION_{self.composition.upper()}")
            c.correction.network = model_config_pb2.NETWORK_KIND_TORCHSCRIPT
            c.correction.torchscript_file = CORRECTION_FILE
        try:
            json_format.ParseDict(self.settings, c)
        except json_format.ParseError as e:
            raise ValueError(f"settings: {e}") from None
        return c
