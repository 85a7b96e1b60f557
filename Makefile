.PHONY: demo test bootstrap emulator lint bench

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

bootstrap:
	./scripts/bootstrap.sh

emulator: bootstrap
	.venv/bin/airflow-k8s-emulator

lint: bootstrap
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy airflow_k8s_workflows
