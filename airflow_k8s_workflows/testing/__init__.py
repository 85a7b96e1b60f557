"""Testing helpers for users' own DAG tests: a pytest plugin with a ``kube_emulator`` fixture.

Installed with the package (entry point ``pytest11``), so in any project that depends on
``airflow-k8s-workflows`` a test can simply ask for the fixture::

    def test_my_dag_runs_its_job(kube_emulator):
        dag.test()  # kubernetes_default now points at the emulator
"""
