"""Pure monitoring knowledge, no Airflow and no I/O: how a connection's fields become an HTTP
endpoint (:mod:`.endpoint`), how a PromQL instant-query result is judged against a threshold
(:mod:`.promql`), and what an Alertmanager alert for an Airflow task looks like (:mod:`.alerts`).

The hooks (``hooks/prometheus.py``, ``hooks/alertmanager.py``) do the talking; the sensor,
trigger and notifiers call these functions so the sync and async paths judge alike.
"""
