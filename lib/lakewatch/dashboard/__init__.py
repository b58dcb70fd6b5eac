"""The operator dashboard: a Streamlit app on the lakehouse's Delta tables, read with DuckDB/deltalake (no JVM).

``data`` holds the data access (pandas frames from the tables, testable without a server), ``charts`` the plotly
figures, ``app_pages/`` one module per page, ``app`` the navigation; ``./spark-submit.sh dashboard`` serves it.
"""
