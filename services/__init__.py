"""Host-side services shared by the Streamlit app and the `titanic-sm` CLI."""
