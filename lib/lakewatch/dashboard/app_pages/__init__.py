"""The dashboard's pages, one Streamlit script each; app.py lists them with st.navigation.

Not named pages/: Streamlit would serve a folder of that name on its own, without app.py.
"""
