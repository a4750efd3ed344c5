"""Model families, one per paper; the platform reaches them only through ``FAMILIES``.

Every family is one subpackage with the same module layout, so a reader who knows one knows all
(a module a family does not need is absent; family-specific helpers sit beside these):

    spec.py          builds the family's ``FamilySpec`` (models/contract.py): its data, train,
                     evaluate, serve and monitor parts; the only module the platform imports
    dataset.py       the dataset format: layout constants, readers and writers
    synth.py         the synthetic generator in that format (labelled as synthetic)
    summary.py       a dataset's summary, printed by ``affectops data summary``
    expectations.py  the Great Expectations suite over the dataset's tables
    split.py         subject-independent folds (k-fold families)
    data.py          training and evaluation views of a split dataset
    recordings.py    recorded raw media -> a new dataset (``data.featurize``), where the family takes them
    model.py         the config dataclass (paper defaults) and the nn.Module
    train.py         the training loop (CPU, one GPU, DDP under torchrun)
    checkpoint.py    the trained-model artifact: save and load
    evaluate.py      the paper's metrics on a held-out partition
    crossval.py      the paper's evaluation protocol
    figures.py       the paper's plots of a registered version
    schema.py        what a request carries and what it answers (named tensors)
    predict.py       one request (or a batch) through a trained model
    media.py         raw media (video, image, audio) -> the request's tensors, where the family takes it
    requests.py      held-out examples as requests: a version's monitoring reference
    traffic.py       synthetic production traffic (``monitor.traffic``, the demo's), where the family has it
    monitoring.yaml  what monitoring reports and gates for the served model

``models/common`` holds what families share. Nothing in ``models`` imports a platform package.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from models.contract import FamilySpec

DEFAULT_FAMILY = "hearing_loss"  # the headline model: what the demo and CLI defaults use


class _Families(Mapping[str, FamilySpec]):
    """Family name -> its spec, importing a family's package only when that family is asked for."""

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._modules = dict(modules)
        self._loaded: dict[str, FamilySpec] = {}

    def __getitem__(self, name: str) -> FamilySpec:
        if name not in self._loaded:
            spec = importlib.import_module(self._modules[name]).SPEC
            if spec.name != name:
                raise ValueError(f"{self._modules[name]} builds family {spec.name!r}, registered as {name!r}")
            self._loaded[name] = spec
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:  # without importing the family
        return name in self._modules

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __len__(self) -> int:
        return len(self._modules)


FAMILIES: Mapping[str, FamilySpec] = _Families(
    {
        "hearing_loss": "models.hearing_loss.spec",
        "expression": "models.expression.spec",
        "action_units": "models.action_units.spec",
        "face_animation": "models.face_animation.spec",
        "audio_emotion": "models.audio_emotion.spec",
    }
)


def get_family(name: str) -> FamilySpec:
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]
