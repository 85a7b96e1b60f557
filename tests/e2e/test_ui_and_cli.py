"""The two doors of the repo's ``dags/`` in a real ``airflow standalone`` with a login (simple
auth manager, one admin) against the emulator, sharing one standalone (startup is the costly
part on a 2-core machine):

* **Browser** (Debian's Chromium through Playwright): log in through the form, open
  ``deploy_scale_monitor``, trigger it from the trigger dialog with a changed param
  (``namespace``), follow the run to success in the UI and read the ``deploy`` task's log, where
  the rollout verdict written by the trigger in the triggerer shows up; the same log read over
  ``/api/v2`` shows the deferral. Every step saves a screenshot to ``artifacts/ui/``;
  ``UPDATE_DOC_IMAGES=1`` refreshes ``docs/images/ui-flagship-run.png`` from the run's page.
* **CLI**: ``airflow backfill create`` of three logical dates of ``batch_jobs`` gives exactly one
  extract Job per date, named after it (and one Job per date and shard); a second backfill with
  ``--reprocess-behavior completed`` re-runs the dates and **replaces** each finished Job (a
  fresh uid at the same name): still exactly one Job per name, never a twin. That second
  backfill first fails half-way the way SQLite does under load ("database is locked" on the
  second date; Airflow deletes the first date's run it had already cleared) and is run again,
  so the first date's run is made anew under the same run_id: its Jobs are replaced too.

(The REST door, triggering the flagship through ``/api/v2`` and seeing ``deploy`` deferred, is
README command 1: tests/e2e/test_demo.py.) Needs ``/usr/bin/chromium`` (``scripts/bootstrap.sh``
installs it); Playwright never downloads a browser here.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config, watch

from airflow_k8s_workflows.emulator import KubeEmulator
from airflow_k8s_workflows.testing.standalone import VENV_BIN, AirflowStandalone

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


DATES = ["20260101", "20260102", "20260103"]
LOCKED_BACKFILL = Path(__file__).with_name("locked_backfill.py")
LOGIN = ("admin", secrets.token_urlsafe(12))


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeEmulator]:
    with KubeEmulator(speed=20, workdir=tmp_path_factory.mktemp("emu")) as e:
        yield e


@pytest.fixture(scope="module")
def af(emu: KubeEmulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowStandalone]:
    env = {"AIRFLOW_CONN_KUBERNETES_DEFAULT": emu.airflow_connection(inline=True)}
    with AirflowStandalone(
        tmp_path_factory.mktemp("airflow"), REPO / "dags", env=env, login=LOGIN
    ) as running:
        yield running


def log_text(af: AirflowStandalone, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    body = af.get(
        f"{af.run_path(dag_id, run_id)}/taskInstances/{task_id}/logs/{try_number}", full_content=True
    )
    return "\n".join(str(c.get("event", c)) if isinstance(c, dict) else str(c) for c in body["content"])


def test_flagship_dag_triggered_and_followed_in_the_ui(
    tmp_path: Path, emu: KubeEmulator, af: AirflowStandalone
) -> None:
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

    login = LOGIN
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
            expect(page.get_by_text('deployment "web" successfully rolled out', exact=True)).to_be_visible()
            shot(page, "07-deploy-log")
        except BaseException:
            page.screenshot(path=str(SHOTS / "failure.png"))
            raise
        finally:
            browser.close()

    if os.environ.get("UPDATE_DOC_IMAGES") or not DOC_IMAGE.exists():  # a tracked file: on request
        DOC_IMAGE.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_shot, DOC_IMAGE)

    # the same log over the REST API: the worker deferred, the triggerer judged the rollout
    deploy = af.get(f"{af.run_path(DAG_ID, run_id)}/taskInstances/deploy")
    log = log_text(af, DAG_ID, run_id, "deploy", deploy["try_number"])
    assert "Pausing task as DEFERRED" in log
    assert 'deployment "web" successfully rolled out' in log

    # the param typed into the form reached the cluster: the app runs there, scaled back to 2
    api = config.new_client_from_config(emu.kubeconfig)
    try:
        deployment = client.AppsV1Api(api).read_namespaced_deployment("web", NAMESPACE)
    finally:
        api.close()
    assert deployment.spec.replicas == 2
    timings["total"] = round(time.monotonic() - began, 1)
    print(f"ui e2e timings (s since start): {timings}, airflow: {af.timings}")


def backfill(af: AirflowStandalone, *extra: str, lock_second_date: bool = False) -> datetime:
    """``airflow backfill create`` of DATES; returns when it began. On SQLite (standalone's
    database) a busy scheduler can fail it with "database is locked" after the first dates were
    committed, each on its own; Airflow then deletes the backfill and its runs, or leaves it
    active when that cleanup meets the lock too (airflow-notes §15). So: wait until no backfill
    is active, then run the command again over the dates whose run was not (re)queued since it
    began, so every date is (re)run exactly once. ``lock_second_date``: the first command fails
    that way for sure (tests/e2e/locked_backfill.py)."""
    since = datetime.now(timezone.utc)
    missing = list(DATES)
    for attempt in range(4):
        locked = lock_second_date and attempt == 0
        airflow = [str(VENV_BIN / "python"), str(LOCKED_BACKFILL)] if locked else [str(VENV_BIN / "airflow")]
        # paused while the command runs: the cleanup after a lock error deletes runs the command
        # had committed, and a scheduler that started one of them dies (StaleDataError, §15)
        af.pause("batch_jobs")
        try:
            done = subprocess.run(
                [*airflow, "backfill", "create", "--dag-id", "batch_jobs",
                 "--from-date", iso_date(missing[0]), "--to-date", iso_date(missing[-1]), *extra],
                env=af.env(), capture_output=True, text=True, timeout=120,
            )  # fmt: skip
        finally:
            af.unpause("batch_jobs")
        output = done.stdout[-3000:] + done.stderr[-3000:]
        print(f"backfill create {missing[0]}..{missing[-1]} {' '.join(extra)}{' (2nd date locked)' * locked}: "
              f"exit {done.returncode}\n{output}")  # fmt: skip
        if done.returncode == 0 and not locked:
            return since
        assert "database is locked" in output, output
        af.wait(lambda: active_backfills(af) == 0, 300, "the failed backfill closed")
        queued = {run_date(r) for r in batch_runs(af) if queued_after(r, since)}
        missing = [d for d in DATES if d not in queued]
        if not missing:
            return since
        first = DATES.index(missing[0])
        assert missing == DATES[first : first + len(missing)], f"dates left out of order: {missing}"
    raise AssertionError(f"airflow backfill create kept failing: {output}")


def iso_date(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}"


def run_date(run: dict[str, Any]) -> str:
    """The run's logical date as in DATES (``YYYYMMDD``)."""
    return str(run["logical_date"][:10].replace("-", ""))


def queued_after(run: dict[str, Any], since: datetime) -> bool:
    """The run was created or cleared (requeued) after ``since``."""
    return bool(run["queued_at"]) and datetime.fromisoformat(run["queued_at"]) >= since


def batch_runs(af: AirflowStandalone) -> list[dict[str, Any]]:
    return [r for r in af.runs("batch_jobs") if r["run_type"] == "backfill"]


def active_backfills(af: AirflowStandalone) -> int:
    """Backfills of batch_jobs not yet marked completed: the scheduler marks one a moment after
    its last run ends; until then a new backfill of the DAG is refused (AlreadyRunningBackfill)."""
    return sum(not b["completed_at"] for b in af.get("/backfills", dag_id="batch_jobs")["backfills"])


def test_cli_backfill_gives_one_job_per_date_and_a_reprocess_replaces_without_twins(
    af: AirflowStandalone, emu: KubeEmulator
) -> None:
    api = config.new_client_from_config(emu.kubeconfig)
    try:
        _backfill_twice(af, client.BatchV1Api(api))
    finally:
        api.close()


def _backfill_twice(af: AirflowStandalone, batch: client.BatchV1Api) -> None:
    start_rv = batch.list_namespaced_job("default").metadata.resource_version
    af.wait_for_dag("batch_jobs")
    af.unpause("batch_jobs")  # the scheduler queues no task of a paused DAG, backfills included

    def ours() -> list[Any]:  # the three dates' Jobs (unpausing also schedules the latest day)
        return [
            j for j in batch.list_namespaced_job("default").items if any(d in j.metadata.name for d in DATES)
        ]

    def situation() -> str:  # what a timeout reports: the runs, their unfinished tries, the Jobs
        lines = [f"run {r['dag_run_id']} {r['run_type']} {r['state']} {r['start_date']}..{r['end_date']}"
                 for r in af.runs("batch_jobs")]  # fmt: skip
        for r in batch_runs(af):
            lines += [f"  ti {t['task_id']}[{t['map_index']}] {t['state']} try {t['try_number']}"
                      for t in af.task_instances("batch_jobs", r["dag_run_id"]) if t["state"] != "success"]  # fmt: skip
        lines += [f"job {j.metadata.name} uid {j.metadata.uid} succeeded={j.status.succeeded} "
                  f"replaced={j.metadata.uid != first_uids.get(j.metadata.name)}" for j in ours()]  # fmt: skip
        return "\n".join(lines)

    def wait(predicate: Any, what: str) -> None:
        try:
            af.wait(predicate, 300, what)
        except TimeoutError as timeout:
            raise AssertionError(f"{timeout}\n--- state:\n{situation()}") from None

    first_uids: dict[str, str] = {}
    backfill(af)
    wait(lambda: len(runs := batch_runs(af)) == 3 and all(r["state"] == "success" for r in runs),
         "three successful backfill runs")  # fmt: skip
    jobs = {j.metadata.name: j for j in ours()}
    assert {n for n in jobs if n.startswith("batch-extract-")} == {f"batch-extract-{d}" for d in DATES}
    assert {n for n in jobs if n.startswith("batch-process-")} == {
        f"batch-process-{d}-{i}" for d in DATES for i in range(3)
    }
    first_uids.update({n: j.metadata.uid for n, j in jobs.items()})
    assert {run_date(r) for r in batch_runs(af)} == set(DATES)
    af.wait(lambda: active_backfills(af) == 0, 120, "the first backfill marked completed")

    # the reprocess fails half-way the way SQLite does under load (Airflow deletes the first
    # date's run it had cleared) and is run again: the first date's run is made anew under the
    # same run_id, and must still replace its Jobs, not adopt the first backfill's
    since = backfill(af, "--reprocess-behavior", "completed", lock_second_date=True)
    wait(lambda: len(runs := batch_runs(af)) == 3
         and all(r["state"] == "success" and queued_after(r, since) for r in runs),
         "the reprocessed runs")  # fmt: skip
    wait(lambda: len(now := ours()) == 12
         and all(j.metadata.uid != first_uids[j.metadata.name] and j.status.succeeded for j in now),
         "every Job replaced and succeeded")  # fmt: skip

    # every create the API server answered, from a watch replayed from before the first backfill
    uids: dict[str, set[str]] = {}
    for event in watch.Watch().stream(batch.list_namespaced_job, "default", resource_version=start_rv,
                                      timeout_seconds=2):  # fmt: skip
        if event["type"] == "ADDED" and event["object"].metadata.name in first_uids:
            uids.setdefault(event["object"].metadata.name, set()).add(event["object"].metadata.uid)
    created = {name: len(made) for name, made in uids.items()}
    assert set(created) == set(first_uids)
    assert set(created.values()) == {2}, created  # once per backfill: replaced, never twinned
