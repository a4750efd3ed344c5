"""Every family's raw-media contract (serve.media) agrees with its serving schema and the v2 codec."""

from __future__ import annotations

import pytest

from models import FAMILIES
from serving.v2 import DTYPES

pytestmark = pytest.mark.unit

WITH_MEDIA = [name for name, spec in FAMILIES.items() if spec.serve.media is not None]


@pytest.mark.parametrize("family", WITH_MEDIA)
def test_media_become_the_predictors_inputs_and_pass_its_metadata(family: str) -> None:
    spec = FAMILIES[family]
    media, schema = spec.serve.media, spec.serve.schema(spec.train.config())
    assert set(media.tensors) == {tensor.name for tensor in schema.inputs}
    assert set(media.metadata) <= set(schema.metadata)
    names = [form.name for form in media.inputs]
    assert len(names) == len(set(names)) and not set(names) & set(media.tensors)
    for form in media.inputs:
        assert form.datatype in DTYPES and form.max_bytes > 0
        assert all(isinstance(d, str) or d >= 0 for d in form.shape)
