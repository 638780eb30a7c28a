"""Titanic on SageMaker: the dashboard's home page (``streamlit run app/Home.py``): what it does,
the four steps, and the latest job."""

from __future__ import annotations

import streamlit as st
from ui import action, code, page_setup, t

from services.jobs import JobStore, refresh

settings = page_setup("nav.home")

st.title(t("home.title"))
st.markdown(t("home.intro_local") if settings.is_local else t("home.intro_aws", region=code(settings.region)))
st.markdown(t("home.steps"))
columns = st.columns(4)
for column, (page, label) in zip(
    columns,
    [
        ("pages/1_Data.py", "home.link_data"),
        ("pages/2_Instance.py", "home.link_instance"),
        ("pages/3_Train.py", "home.link_train"),
        ("pages/4_Jobs.py", "home.link_jobs"),
    ],
    strict=True,
):
    column.page_link(page, label=t(label))

store = JobStore(settings.job_store_path)
action(t("common.reading_store"), refresh, store)  # a dead worker's job reads Failed
latest = action(t("common.reading_store"), store.list, limit=1)
if latest:
    job = latest[0]
    if job.validation_auc is not None:
        st.caption(t("home.latest_auc", name=job.job_name, status=job.status, auc=job.validation_auc))
    else:
        st.caption(t("home.latest", name=job.job_name, status=job.status))
