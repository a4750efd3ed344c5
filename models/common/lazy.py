"""Functions a spec names without importing them: a predictor that serves one family never loads its
training, evaluation or fairness code (sklearn, fairlearn) just by resolving the family."""

from __future__ import annotations

import importlib
from typing import Any


class Lazy:
    """``module:attribute``, imported on the first call and called with the same arguments."""

    def __init__(self, target: str) -> None:
        module, sep, attribute = target.partition(":")
        if not sep or not module or not attribute:
            raise ValueError(f"lazy target {target!r} is not of the form module:attribute")
        self.target = target
        self._module, self._attribute = module, attribute
        self._resolved: Any = None

    def resolve(self) -> Any:
        if self._resolved is None:
            self._resolved = getattr(importlib.import_module(self._module), self._attribute)
        return self._resolved

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Lazy({self.target!r})"
