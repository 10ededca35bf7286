"""Alerts: the run-failure and failed-check sensors post to a real HTTP server on loopback, started
here; the runs they report are real runs in an ephemeral instance. Slack is only constructed
(through dagster-slack): its servers cannot be reached from here."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import (
    DagsterInstance,
    SensorResult,
    build_resources,
    build_run_status_sensor_context,
    build_sensor_context,
    job,
    op,
)

from orchestrator.layout import ENTRY_MANIFEST_PATH
from orchestrator.logic.alerts import REDACTED, CheckOutcome, checks_to_alert, first_lines, redact
from orchestrator.resources.alerts import ALERTS_OFF, AlertNotifier
from orchestrator.resources.deployments import alert_notifier
from orchestrator.sensors.alerts import alert_on_failed_checks, alert_on_run_failure
from tests.builders import code_location, make_data, put_connector

SECRET_PATH = "/hooks/T0001/B0002/s3cr3tPathToken"
PRIVATE_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
SERVICE_ACCOUNT = json.dumps(
    {
        "type": "service_account",
        "client_email": "orchestrator@example.iam.gserviceaccount.com",
        "private_key_id": "0123456789abcdef0123456789abcdef",
        "private_key": PRIVATE_KEY,
    }
)
SLACK_TOKEN = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"


class Webhook:
    """A real HTTP server on a free loopback port; every JSON body POSTed to it lands in `received`."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server interface
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                assert self.headers.get("Content-Type") == "application/json"
                received.put({"path": self.path, "body": json.loads(body), "raw": body.decode()})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def messages(self) -> list[dict]:
        found = []
        while not self.received.empty():
            found.append(self.received.get_nowait())
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def instance():
    with DagsterInstance.ephemeral() as ephemeral:
        yield ephemeral


def notifier(webhook: Webhook) -> AlertNotifier:
    return AlertNotifier(webhook_url=webhook.url, webserver_url="http://dagster.example:3000")


def failure_sensor_tick(result, instance, resources) -> object:
    context = build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        resources=resources,
    ).for_run_failure()
    return alert_on_run_failure(context)


def test_failed_generate_registry_run_is_posted_to_the_webhook(gcs_env, resources, instance, webhook):
    put_connector(gcs_env, make_data("source-alpha"))
    gcs_env["metadata"].write(ENTRY_MANIFEST_PATH, b"{not json")
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=instance, raise_on_error=False)
    )
    assert not result.success

    failure_sensor_tick(result, instance, {"alert_notifier": notifier(webhook)})
    (message,) = webhook.messages()
    assert message["path"] == SECRET_PATH
    body = message["body"]
    assert body["kind"] == "run_failure"
    assert body["job"] == "generate_registry"
    assert body["run_id"] == result.run_id
    assert body["run_url"] == f"http://dagster.example:3000/runs/{result.run_id}"
    assert body["failed"] == "metadata_definitions"
    assert ENTRY_MANIFEST_PATH in body["reason"] and "unreadable" in body["reason"]
    assert len(body["reason"].splitlines()) <= 6
    assert body["text"].startswith(f"generate_registry run {result.run_id[:8]} failed\nJob: generate_registry\n")
    assert SECRET_PATH not in message["raw"], "the webhook's own secret path is never in a message"


def test_a_failure_that_quotes_credentials_is_posted_without_them(instance, webhook, monkeypatch):
    monkeypatch.setenv("GCS_CREDENTIALS", SERVICE_ACCOUNT)
    monkeypatch.setenv("ORCHESTRATOR_ALERT_WEBHOOK_URL", webhook.url)

    @op
    def leaky_step():
        raise RuntimeError(
            f"could not authenticate with {SERVICE_ACCOUNT} (key {PRIVATE_KEY.splitlines()[1]}); "
            f"posting to {webhook.url} with token {SLACK_TOKEN} via https://ci:hunter2pass@proxy.example/x?token=abc123"
        )

    @job
    def leaky_job():
        leaky_step()

    result = leaky_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    failure_sensor_tick(result, instance, {"alert_notifier": notifier(webhook)})
    (message,) = webhook.messages()
    raw = message["raw"]
    for secret in (
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "0123456789abcdef0123456789abcdef",
        SECRET_PATH,
        SLACK_TOKEN,
        "hunter2pass",
        "abc123",
    ):
        assert secret not in raw, f"{secret!r} leaked into the alert"
    assert REDACTED in message["body"]["reason"]
    assert message["body"]["failed"] == "leaky_step"
    assert "could not authenticate" in message["body"]["reason"], "the reason itself is kept"


def test_failed_checks_are_posted_once_per_failure(gcs_env, resources, instance, webhook):
    put_connector(gcs_env, make_data("source-good"))
    broken = make_data("source-broken", tag="1.1.0")
    del broken["license"]
    put_connector(gcs_env, broken)
    generate_registry = code_location().resolve_job_def("generate_registry")

    def run_and_tick(cursor):
        run = generate_registry.execute_in_process(resources=resources, instance=instance)
        assert run.success, "a failed check does not fail the run"
        with build_sensor_context(
            cursor=cursor, instance=instance, resources={"alert_notifier": notifier(webhook)}
        ) as context:
            result = alert_on_failed_checks(context)
        assert isinstance(result, SensorResult)
        return run, result.cursor, webhook.messages()

    run, cursor, messages = run_and_tick(None)
    (message,) = messages
    body = message["body"]
    assert body["kind"] == "failed_check" and body["failed"] == "metadata_definitions:metadata_files_valid"
    assert body["job"] == "generate_registry" and body["run_url"].endswith(f"/runs/{run.run_id}")
    assert (
        "metadata/airbyte/source-broken/1.1.0/metadata.yaml: data.license: required field is missing" in body["reason"]
    )

    # Still broken in the next run: not announced again.
    _, cursor, messages = run_and_tick(cursor)
    assert messages == []
    # Fixed: the check passes, nothing is posted; broken again later: announced again.
    put_connector(gcs_env, make_data("source-broken", tag="1.1.0"))
    _, cursor, messages = run_and_tick(cursor)
    assert messages == []
    assert json.loads(cursor)["alerted"] == {}
    del broken["githubIssueLabel"]
    put_connector(gcs_env, broken)
    _, cursor, messages = run_and_tick(cursor)
    assert [message["body"]["failed"] for message in messages] == ["metadata_definitions:metadata_files_valid"]


def test_alerts_are_off_when_nothing_is_configured(gcs_env, resources, instance, webhook, monkeypatch):
    for name in ("ORCHESTRATOR_ALERT_WEBHOOK_URL", "SLACK_TOKEN", "SLACK_CHANNEL"):
        monkeypatch.delenv(name, raising=False)
    off = resources["alert_notifier"]
    assert not off.enabled and off.destinations() == []
    gcs_env["metadata"].write(ENTRY_MANIFEST_PATH, b"{not json")
    result = (
        code_location()
        .resolve_job_def("generate_registry")
        .execute_in_process(resources=resources, instance=instance, raise_on_error=False)
    )
    skipped = failure_sensor_tick(result, instance, {"alert_notifier": off})
    assert getattr(skipped, "skip_message", None) == ALERTS_OFF
    with build_sensor_context(instance=instance, resources={"alert_notifier": off}) as context:
        ticked = alert_on_failed_checks(context)
    assert isinstance(ticked, SensorResult) and ticked.skip_reason is not None
    assert ticked.skip_reason.skip_message == ALERTS_OFF
    assert webhook.messages() == []


def test_slack_is_built_through_dagster_slack_when_token_and_channel_are_set(monkeypatch):
    from dagster_slack import SlackResource

    environ = {"SLACK_TOKEN": SLACK_TOKEN, "SLACK_CHANNEL": "#connector-registry"}
    monkeypatch.setenv("SLACK_TOKEN", SLACK_TOKEN)
    assert not alert_notifier({"SLACK_TOKEN": SLACK_TOKEN}).slack_channel, "a token alone is not enough"
    with build_resources({"alert_notifier": alert_notifier(environ)}) as bound:
        slack_notifier = bound.alert_notifier
        assert slack_notifier.slack_enabled and not slack_notifier.webhook_enabled
        assert slack_notifier.destinations() == ["Slack channel #connector-registry"]
        slack = slack_notifier.slack_resource()
        assert isinstance(slack, SlackResource)
        assert slack.get_client().token == SLACK_TOKEN
        assert SLACK_TOKEN in slack_notifier.secrets()


def test_the_webhook_url_is_not_shown_as_a_resource_value(monkeypatch):
    """The deployment passes secrets as EnvVar, so the UI shows the variable's name, not the URL."""
    from dagster import EnvVar

    configured = alert_notifier({"ORCHESTRATOR_ALERT_WEBHOOK_URL": "https://hooks.example/T/B/secret"})
    assert isinstance(configured.webhook_url, EnvVar)


def test_redaction_and_first_lines():
    text = redact(
        'key "private_key": "abc\\ndef" and xoxp-11-22-33 and Bearer abcdefghijklmnop1234 and mine',
        secrets=["and mine"],
    )
    assert text == f'key "private_key": "{REDACTED}" and {REDACTED} and Bearer {REDACTED} {REDACTED}'
    assert first_lines("\n\none\ntwo\nthree", lines=2) == "one\ntwo\n…"
    assert len(first_lines("x" * 5000)) == 600


def test_checks_to_alert_announces_each_failure_once():
    def outcome(passed, fingerprint="a", key="metadata_definitions:metadata_files_valid"):
        return CheckOutcome(key, passed, fingerprint, "why", "generate_registry", "run")

    alerts, state = checks_to_alert([outcome(False)], {})
    assert [item.key for item in alerts] == ["metadata_definitions:metadata_files_valid"]
    assert checks_to_alert([outcome(False)], state)[0] == []
    assert checks_to_alert([outcome(False, "b")], state)[0] != [], "failing differently is news"
    alerts, state = checks_to_alert([outcome(False), outcome(True)], state)
    assert alerts == [] and state == {}, "failed then passed within the same tick: nothing to say"
