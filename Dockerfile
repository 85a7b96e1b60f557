# Airflow 3.3 with this provider installed from the repository (used by docker-compose.yaml).
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root pyproject.toml README.md constraints.txt /opt/provider/
COPY --chown=airflow:root airflow_k8s_workflows /opt/provider/airflow_k8s_workflows
RUN pip install --no-cache-dir /opt/provider
