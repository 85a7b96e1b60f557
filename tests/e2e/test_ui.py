"""The flagship DAG driven through the browser: a real ``airflow standalone`` with a login
(simple auth manager, one admin) against the emulator, and Debian's Chromium through Playwright.

Log in through the form, open ``deploy_scale_monitor``, trigger it from the trigger dialog with a
changed param (``namespace``), follow the run to success in the UI and read the ``deploy`` task's
log, where the rollout verdict written by the trigger in the triggerer shows up. Every step saves
a screenshot to ``artifacts/ui/``; ``docs/images/ui-flagship-run.png`` is refreshed from the
run's page (the grid and the run's task instances, all successful).

Run with ``pytest -m e2e tests/e2e/test_ui.py``. Needs ``/usr/bin/chromium``
(``scripts/bootstrap.sh`` installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client, config

from airflow_k8s_workflows.emulator import KubeEmulator
from tests.e2e.airflow_standalone import AirflowStandalone

# ~2 min on an idle 2-core machine; far more when other suites load it (see the timings print)
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]
DAG_ID = "deploy_scale_monitor"
TASKS = ("apply_config", "deploy", "smoke_test", "scale_up", "health", "scale_back")
NAMESPACE = "ui-e2e"  # typed into the trigger form instead of the default "demo"
SHOTS = REPO / "artifacts" / "ui"
DOC_IMAGE = REPO / "docs" / "images" / "ui-flagship-run.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
UI_TIMEOUT_MS = 45_000  # one UI step (page load, dialog) on a loaded 2-core machine
RUN_TIMEOUT = 300.0  # trigger to a finished run


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[KubeEmulator]:
    with KubeEmulator(speed=20, workdir=tmp_path / "emu") as e:
        yield e


def test_flagship_dag_triggered_and_followed_in_the_ui(tmp_path: Path, emu: KubeEmulator) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} missing: run scripts/bootstrap.sh (never `playwright install`)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    timings: dict[str, float] = {}
    began = time.monotonic()

    def shot(page: Page, name: str) -> Path:
        page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # no hover effects
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path))
        timings[name] = round(time.monotonic() - began, 1)
        return path

    login = ("admin", secrets.token_urlsafe(12))
    env = {"AIRFLOW_CONN_KUBERNETES_DEFAULT": emu.airflow_connection(inline=True)}
    with AirflowStandalone(tmp_path / "airflow", REPO / "dags", env=env, login=login) as af:
        timings["airflow_started"] = round(time.monotonic() - began, 1)
        af.wait_for_dag(DAG_ID)
        # the login is real: no token, no API; a wrong password, no token
        assert httpx.get(f"{af.base_url}/api/v2/dags", timeout=30).status_code == 401
        wrong = httpx.post(
            f"{af.base_url}/auth/token", json={"username": "admin", "password": "nope"}, timeout=30
        )
        assert wrong.status_code == 401, wrong.text

        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                viewport=VIEWPORT,  # type: ignore[arg-type]
                locale="en-US",
            )
            page = browser.pages[0] if browser.pages else browser.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            try:
                # 1. the UI sends an anonymous visitor to the simple auth manager's login form
                page.goto(af.base_url)
                expect(page).to_have_url(re.compile(r"/auth/login"))
                page.get_by_label("Username").fill(login[0])
                page.get_by_label("Password").fill(login[1])
                shot(page, "01-login")
                page.get_by_role("button", name="Sign in").click()
                expect(page).not_to_have_url(re.compile(r"/auth/login"))

                # 2. Dags list -> the DAG's page
                page.get_by_role("link", name="Dags", exact=True).click()
                page.get_by_role("link", name=DAG_ID, exact=True).click()
                expect(page).to_have_url(re.compile(rf"/dags/{DAG_ID}$"))
                expect(page.get_by_role("link", name="Runs", exact=True)).to_be_visible()
                # the grid's task list (links named after the tasks) is loaded
                expect(page.get_by_role("link", name=TASKS[-1], exact=True)).to_be_visible()
                shot(page, "02-dag")

                # 3. the trigger dialog: unpause on trigger (the DAG starts paused), one param changed
                page.get_by_role("button", name="Trigger Dag").click()  # the header button's aria-label
                dialog = page.get_by_role("dialog")
                expect(dialog).to_contain_text(f"Trigger Dag - {DAG_ID}")
                expect(dialog.get_by_role("checkbox", name=f"Unpause {DAG_ID} on trigger")).to_be_checked()
                # the param inputs have no accessible name (their label is not linked to them);
                # the form names each one element_<param>
                namespace = dialog.locator("input[name='element_namespace']")
                expect(namespace).to_have_value("demo")
                namespace.fill(NAMESPACE)
                submit = dialog.get_by_role("button", name="Trigger", exact=True)
                expect(submit).to_be_enabled()  # disabled while any param is invalid or missing
                shot(page, "03-trigger-form")
                submit.click()
                expect(dialog).to_be_hidden()

                runs = af.wait(lambda: af.runs(DAG_ID), 60, "the run triggered from the UI")
                assert len(runs) == 1, runs
                run = runs[0]
                run_id = run["dag_run_id"]
                assert run["run_type"] == "manual" and run["triggering_user_name"] == login[0], run
                assert run["conf"]["namespace"] == NAMESPACE, run["conf"]
                # the dialog leaves for the new run's page (its task instances); its "Dag Run
                # Triggered" toast is gone after a few seconds, too soon to assert on a busy machine
                expect(page).to_have_url(re.compile(r"/runs/manual__"))
                # the grid (left) has a column for the run: one cell per task instance
                expect(page.get_by_test_id(f"grid-{run_id}-apply_config")).to_be_visible()
                shot(page, "04-triggered")

                # 4. wait for the run (REST); then its page must show it and every task instance
                # of it as a success. The page polls by itself but lags behind on a busy machine
                # (header still "Running" with every task done), hence the reload.
                af.wait_for_runs(DAG_ID, 1, states=("success",), timeout=RUN_TIMEOUT)
                timings["run_succeeded"] = round(time.monotonic() - began, 1)
                page.reload()
                expect(page.get_by_test_id(f"grid-{run_id}-scale_back")).to_be_visible()
                expect(page.get_by_text("Running", exact=True)).to_have_count(0)
                for task_id in TASKS:
                    task_row = page.get_by_role("row").filter(
                        has=page.get_by_role("link", name=task_id, exact=True)
                    )
                    expect(task_row).to_contain_text("Success")
                run_shot = shot(page, "05-run-success")
                # ... and the DAG's Runs tab lists the run itself as a success, triggered by admin
                page.get_by_role("link", name=DAG_ID, exact=True).first.click()  # the breadcrumb
                page.get_by_role("link", name="Runs", exact=True).click()
                run_row = page.get_by_role("row").filter(has_text=run_id)
                expect(run_row).to_contain_text("Success")
                expect(run_row).to_contain_text(login[0])
                shot(page, "06-runs")

                # 5. the deploy task instance's log: run -> its task instances -> deploy. (The
                # grid cell of the task instance leads there too, but its tooltip then stays up.)
                page.get_by_role("link", name=run_id, exact=True).click()
                page.get_by_role("row").filter(
                    has=page.get_by_role("link", name="deploy", exact=True)
                ).get_by_role("link", name="deploy", exact=True).click()
                expect(page).to_have_url(re.compile(r"/tasks/deploy$"))
                # written by the worker (execute) ...
                expect(page.get_by_text('deployment "web" created', exact=True)).to_be_visible()
                # ... and by RolloutTrigger in the triggerer: the UI merges the trigger's log file in
                expect(
                    page.get_by_text('deployment "web" successfully rolled out', exact=True)
                ).to_be_visible()
                shot(page, "07-deploy-log")
            except BaseException:
                page.screenshot(path=str(SHOTS / "failure.png"))
                raise
            finally:
                browser.close()

    DOC_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_shot, DOC_IMAGE)

    # the param typed into the form reached the cluster: the app runs there, scaled back to 2
    api = config.new_client_from_config(emu.kubeconfig)
    try:
        deployment = client.AppsV1Api(api).read_namespaced_deployment("web", NAMESPACE)
    finally:
        api.close()
    assert deployment.spec.replicas == 2
    timings["total"] = round(time.monotonic() - began, 1)
    print(f"ui e2e timings (s since start): {timings}, airflow: {af.timings}")
