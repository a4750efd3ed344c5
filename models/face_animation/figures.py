"""A registered face animator's pictures: held-out LMD and ES per planted emotion."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models.common.figures import pyplot, save


def plot_evaluation(report: Mapping, reference: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Bars of LMD (full face, mouth) and ES per emotion of the held-out partition."""
    if report.get("lmd") is None or not report.get("per_emotion"):
        raise ValueError("report: no LMD per emotion ('lmd', 'per_emotion'); pass the family's report")
    plt = pyplot()
    emotions = sorted(report["per_emotion"])
    x = np.arange(len(emotions))
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for offset, key in ((-0.2, "lmd"), (0.2, "lmd_mouth")):
        left.bar(x + offset, [report["per_emotion"][e][key] for e in emotions], 0.4, label=key)
    left.set_xticks(x, emotions)
    left.set_ylabel("LMD (256² pixels)")
    left.legend(fontsize=8)
    right.bar(x, [report["per_emotion"][e]["es"] for e in emotions], 0.6)
    right.set_xticks(x, emotions)
    right.set_ylim(0, 1)
    right.set_ylabel(f"ES ({report.get('es_classifier', 'stand-in')})"[:60])
    fig.suptitle("Held-out landmark distance and emotion similarity per planted emotion")
    return [save(fig, Path(out_dir) / "lmd_es_by_emotion.png")]
