"""The submission's static images: the ROC curve, the confusion matrix and feature importance,
drawn with plotly from ``metrics.json`` and written as PNG by plotly's image export (kaleido,
which drives the Chromium on PATH; it needs no download). See docs/adr/0007-static-images.md.

An image that cannot be rendered is not silently left out: ``render`` returns the reason and
the document prints it where the image would be.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.messages import text

__all__ = ["Rendered", "figures", "render"]

WIDTH, HEIGHT = 720, 480


@dataclass(frozen=True)
class Rendered:
    """Which images were written (name -> file name) and why any was not."""

    files: dict[str, str]
    failure: str | None = None
    labels_lang: str | None = None  # the language of the images' labels, when not the document's


def figures(metrics: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """Plotly figures for what ``metrics.json`` holds, titled in ``lang``; name -> figure."""
    import plotly.graph_objects as go

    found: dict[str, Any] = {}
    validation = metrics.get("validation") or {}
    curve = validation.get("roc_curve")
    if curve and curve.get("fpr"):
        fig = go.Figure()
        auc = validation.get("roc_auc")
        name = f"AUC {auc:.3f}" if isinstance(auc, int | float) else "ROC"
        fig.add_trace(go.Scatter(x=list(curve["fpr"]), y=list(curve["tpr"]), mode="lines", name=name))
        fig.add_trace(
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "grey"})
        )
        fig.update_layout(
            title=text("submission.figure.roc", lang),
            xaxis_title="false positive rate",
            yaxis_title="true positive rate",
            xaxis={"range": [0, 1]},
            yaxis={"range": [0, 1]},
        )
        found["roc"] = fig
    matrix = validation.get("confusion_matrix")
    if matrix:
        labels = [text("submission.figure.died", lang), text("submission.figure.survived", lang)]
        fig = go.Figure(
            go.Heatmap(
                z=[list(row) for row in matrix],
                x=[text("submission.figure.predicted", lang, label=label) for label in labels],
                y=[text("submission.figure.actual", lang, label=label) for label in labels],
                text=[[str(v) for v in row] for row in matrix],
                texttemplate="%{text}",
                colorscale="Blues",
                showscale=False,
            )
        )
        fig.update_layout(title=text("submission.figure.confusion", lang), yaxis={"autorange": "reversed"})
        found["confusion"] = fig
    importance = list(metrics.get("feature_importance") or [])[:15]
    if importance:
        fig = go.Figure(
            go.Bar(
                x=[row.get("gain") for row in importance],
                y=[row.get("feature") for row in importance],
                orientation="h",
            )
        )
        fig.update_layout(title=text("submission.figure.importance", lang), yaxis={"autorange": "reversed"})
        found["importance"] = fig
    return found


def korean_font_installed() -> bool:
    """Chromium draws Hangul only with a Korean font (scripts/ensure-browser.sh installs
    fonts-nanum); without one the labels would be empty boxes."""
    import shutil
    import subprocess

    if shutil.which("fc-list") is None:
        return False
    try:
        found = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(found.stdout.strip())


def render(metrics: Mapping[str, Any], lang: str, folder: Path) -> Rendered:
    """Write each figure as ``folder/<name>.<lang>.png``; a renderer that fails is reported, once.
    Korean labels need a Korean font; without one the images are labelled in English, and the
    result says so."""
    labels = lang if lang != "ko" or korean_font_installed() else "en"
    drawn = figures(metrics, labels)
    if not drawn:
        return Rendered({})
    folder.mkdir(parents=True, exist_ok=True)
    files = {name: f"{name}.{lang}.png" for name in drawn}
    try:
        import plotly.io as pio

        pio.write_images(
            fig=list(drawn.values()),
            file=[folder / files[name] for name in drawn],
            format="png",
            width=WIDTH,
            height=HEIGHT,
        )
    except Exception as exc:  # kaleido missing, no Chromium: the document says so instead
        return Rendered({}, " ".join(f"{type(exc).__name__}: {exc}".split())[:300])
    return Rendered(files, labels_lang=labels if labels != lang else None)
