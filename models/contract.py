"""The model-family contract: the typed parts a family's ``spec.py`` fills in (ARCHITECTURE.md).

A spec has five parts a reader can hold in mind: data, train, evaluate, serve, monitor. What a part
may leave out is optional by type (``X | None``), never by a convention the platform has to know.
The platform reaches a family only through these types, so a family that fills them in runs
through every step; ``tests/unit/test_family_contract.py`` checks that for each entry of FAMILIES.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import pandas as pd

from models.common.media import Media
from models.common.schema import ServingSchema

# A held-out partition: a fold index (k folds) or a partition's name (fixed partitions)
Holdout = int | str


@dataclass
class BaseConfig:
    """Fields every family's config has; the family's dataclass extends it with the paper's defaults."""

    seed: int = 0
    epochs: int = 1
    variant: str = ""


class TrainedModel(Protocol):
    """What the platform may read from a loaded model: its config and what it was trained on."""

    @property
    def config(self) -> BaseConfig: ...

    @property
    def holdout(self) -> Holdout | None: ...  # the partition it never saw (None: trained on all)

    def fingerprint(self) -> dict[str, Any]: ...  # config and holdout: equal for equal training runs


# -- data ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KFolds:
    """Subject-independent k folds, written into the dataset by ``split`` (a file beside its tables)."""

    split: Callable[[Path, int, int], Path]  # (dataset, k, seed) -> the folds file it wrote
    file: str  # the folds file; a dataset that has it is split
    k: int = 5

    def holdout(self, text: str | int | None) -> int:
        """The fold a pipeline parameter names ("" or None: fold 0)."""
        if text is None or text == "":
            return 0
        try:
            fold = int(text)
        except ValueError:
            raise ValueError(f"holdout {text!r}: this family holds out a fold, 0 to {self.k - 1}") from None
        if fold < 0:
            raise ValueError(f"holdout {text!r}: a fold index is >= 0")
        return fold


@dataclass(frozen=True)
class FixedPartitions:
    """Named partitions the dataset carries itself (train / test, S1-S4): nothing to split."""

    names: tuple[str, ...]
    test: str  # the partition the paper evaluates on

    def holdout(self, text: str | int | None) -> str:
        if text is None or text == "":
            return self.test
        if str(text) not in self.names:
            raise ValueError(f"holdout {text!r}: not one of this family's partitions {', '.join(self.names)}")
        return str(text)


Partitions = KFolds | FixedPartitions


@dataclass(frozen=True)
class DataPart:
    formats: tuple[str, ...]  # the dataset layouts the family reads, in words
    synth_config: type  # dataclass whose defaults are the paper's dataset scale
    synthesize: Callable[[Any, Path], Any]  # (synth config, empty dir) -> writes a dataset there
    tiny: Callable[[], Any]  # a synth config at test size
    summarize: Callable[[Path], dict]
    format_summary: Callable[[dict], str]
    expectations: ModuleType  # tables(dataset), EXPECTATIONS, ID_COLUMNS: the validation gate
    partitions: Partitions
    load: Callable[[Path], pd.DataFrame]  # a split dataset -> its training / evaluation table
    # (recordings table: a CSV naming each example's raw media, new dataset dir, local encoder
    # checkpoint or None: random weights, *, weights_uri: where it came from, device) -> the new
    # dataset's manifest: a dataset built from recorded raw media (None: the family builds none)
    featurize: Callable[..., pd.DataFrame] | None = None


# -- train -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainPart:
    config: type[BaseConfig]  # the paper's defaults; overridden by params / pipeline parameters
    build: Callable[[Any], Any]  # config -> nn.Module
    # (config, dataset, tracker, *, out_dir, holdout, device, resume) -> the model artifact's path
    train: Callable[..., Path]
    load: Callable[[Path], TrainedModel]  # artifact path -> trained model
    tiny: Callable[[], BaseConfig]  # the real config shrunk to seconds on a CPU (STYLE §6)


# -- evaluate --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluatePart:
    paper_metric: str  # the key of the report that the paper's tables give
    # (trained, dataset, holdout or None: the model's own) -> the paper's metrics, per group where reported
    evaluate: Callable[..., dict]
    # the paper's protocol: (config, dataset, tracker, *, out_dir, seeds, device) -> (summary, predictions)
    protocol: Callable[..., tuple[dict, pd.DataFrame]]
    gates: Mapping[str, Mapping[str, float]]  # default promotion gates (components/gates.py)
    # (report, monitoring reference frame, out_dir) -> PNG paths logged with a registered version
    plots: Callable[[Mapping, pd.DataFrame, Path], list[Path]]


# -- serve -----------------------------------------------------------------------------------------

Tensors = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class ServePart:
    schema: Callable[[Any], ServingSchema]  # config -> named input / output tensors
    example: Callable[[Any], dict[str, np.ndarray]]  # config -> a valid request's tensors
    predict: Callable[[Any, Tensors], dict[str, np.ndarray]]  # (trained, checked tensors) -> outputs
    # (trained, several requests' checked tensors) -> each one's outputs, as ``predict`` would give them
    predict_batch: Callable[[Any, Sequence[Tensors]], list[dict[str, np.ndarray]]] | None = None
    media: Media | None = None  # raw media (video, image, audio) -> the input tensors


# -- monitor ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request as a client sends it: its tensors and the metadata the inference log keeps.

    Metadata never reaches a model. ``unit`` is who the request is about (a subject's pseudonym):
    drift is judged per unit, so rows of one subject count once.
    """

    request_id: str
    unit: str
    tensors: Tensors
    metadata: Mapping[str, Any] = field(default_factory=dict)  # the family's grouping keys (age, ...)

    def parameters(self) -> dict[str, Any]:
        """The request's v2 parameters."""
        return {"request_id": self.request_id, "subject_pseudonym": self.unit, **self.metadata}


def no_requests(data: Path, holdout: Holdout) -> Iterator[Request]:
    """No requests: a reference of the held-out examples alone."""
    return iter(())


@dataclass(frozen=True)
class Traffic:
    """Synthetic production traffic (the demo's): fresh cohorts of the make the family's model is
    trained on, sent as windows of requests whose units' labels arrive later."""

    # (subjects, seed, trained_on=None) -> the synth config of such a cohort; with trained_on (the
    # served model's training cohort's config): new subjects of that same population
    cohort: Callable[..., Any]
    # (split dataset, *, holdout: that partition's examples only (None: all), shifted: the shifted
    # population's window, prefix: of request ids and units, keeping cohorts apart in one inference
    # log, seed) -> the requests and their units' labels (subject_pseudonym, the label column)
    window: Callable[..., tuple[list[Request], pd.DataFrame]]
    shift: str  # the shifted population, in words ("mostly young")


@dataclass(frozen=True)
class MonitorPart:
    config: Path  # the family's monitoring.yaml, over monitoring/configs/monitoring.yaml
    # (split dataset, holdout) -> the held-out examples as requests: a version's monitoring
    # reference, answered by the version (it did not train on them)
    reference_requests: Callable[[Path, Holdout], Iterator[Request]]
    # (split dataset, holdout) -> the requests of the examples the version trained on: their inputs
    # and metadata join the reference unanswered (a model's answers on its own training data are
    # not what it answers in production), so every group of the population has enough units
    training_requests: Callable[[Path, Holdout], Iterator[Request]] = no_requests
    traffic: Traffic | None = None  # None: the family has no synthetic production traffic


# -- the spec --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilySpec:
    name: str
    paper: str  # file name in ../shared/papers/
    summary: str  # what the family does, one line
    data: DataPart
    train: TrainPart
    evaluate: EvaluatePart
    serve: ServePart
    monitor: MonitorPart | None = None  # None: the family is not monitored in production
