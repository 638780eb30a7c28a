"""Titanic on SageMaker: the dashboard's home page (``streamlit run app/Home.py``)."""

from __future__ import annotations

import streamlit as st
from ui import action, page_setup

from services.jobs import JobStore

settings = page_setup("Home")

st.title("🚢 Titanic survival on SageMaker")
st.markdown(
    "Train our own container as an Amazon SageMaker *bring your own container* training job, "
    + (
        "**locally**: moto stands in for AWS and SageMaker local mode runs the real image through Docker."
        if settings.is_local
        else f"on **AWS** in `{settings.region}`."
    )
)
st.markdown(
    "1. **Data**: validate a CSV (or the bundled passenger list), preview it, split it and write the "
    "channels to S3 under a content-hash version.\n"
    "2. **Instance**: the smallest training instance that fits, checked against quotas and prices.\n"
    "3. **Train**: the image by digest, hyperparameters, spot, cost; launch, watch the logs, stop.\n"
    "4. **Jobs**: the history, each job's metrics from its `model.tar.gz`, and comparisons."
)
columns = st.columns(4)
for column, (page, label) in zip(
    columns,
    [
        ("pages/1_Data.py", "1 · Data"),
        ("pages/2_Instance.py", "2 · Instance"),
        ("pages/3_Train.py", "3 · Train"),
        ("pages/4_Jobs.py", "4 · Jobs"),
    ],
    strict=True,
):
    column.page_link(page, label=label)

latest = action("Reading the job store", JobStore(settings.job_store_path).list, limit=1)
if latest:
    job = latest[0]
    auc = f" · validation AUC {job.validation_auc:.3f}" if job.validation_auc is not None else ""
    st.caption(f"Latest job: {job.job_name} · {job.status}{auc} (details on the Jobs page)")
