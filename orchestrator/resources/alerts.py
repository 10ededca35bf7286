"""`alert_notifier`: where alerts go. A webhook (`ORCHESTRATOR_ALERT_WEBHOOK_URL`, a plain JSON
POST) and Slack through dagster-slack (`SLACK_TOKEN` and `SLACK_CHANNEL`); neither set: off."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from urllib.parse import urlsplit

from dagster import ConfigurableResource

from orchestrator.logic.alerts import Alert

# Variables whose values never appear in an alert, whatever the failure's message says.
SECRET_VARIABLES = (
    "GCS_CREDENTIALS",
    "SLACK_TOKEN",
    "ORCHESTRATOR_ALERT_WEBHOOK_URL",
    "REGISTRY_SIGNING_KEY",
    "DAGSTER_CLOUD_API_TOKEN",
)
ALERTS_OFF = "alerts are off: set ORCHESTRATOR_ALERT_WEBHOOK_URL, or SLACK_TOKEN and SLACK_CHANNEL"


class AlertDeliveryError(RuntimeError):
    """An alert could not be delivered; the message names the destination, never its secret part."""


def secret_values(environ: Mapping[str, str]) -> list[str]:
    """The values of SECRET_VARIABLES, and the private key inside a service-account JSON key."""
    values = [environ.get(name, "").strip() for name in SECRET_VARIABLES]
    try:
        key = json.loads(environ.get("GCS_CREDENTIALS") or "{}")
    except ValueError:
        key = {}
    if isinstance(key, dict):
        values += [str(key.get(field) or "") for field in ("private_key", "private_key_id")]
        values += [line for line in str(key.get("private_key") or "").splitlines() if len(line) > 20]
    return [value for value in values if value]


class AlertNotifier(ConfigurableResource):
    webhook_url: str | None = None
    slack_token: str | None = None
    slack_channel: str | None = None
    # Where the Dagster UI is, for the run links in alerts.
    webserver_url: str = "http://localhost:3000"
    timeout_seconds: float = 10.0

    @property
    def webhook_enabled(self) -> bool:
        return bool(self.webhook_url)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_token and self.slack_channel)

    @property
    def enabled(self) -> bool:
        return self.webhook_enabled or self.slack_enabled

    def destinations(self) -> list[str]:
        """What an alert goes to, named without secrets (the webhook by its host only)."""
        named = []
        if self.webhook_enabled:
            named.append(f"webhook at {urlsplit(self.webhook_url or '').hostname}")
        if self.slack_enabled:
            named.append(f"Slack channel {self.slack_channel}")
        return named

    def run_url(self, run_id: str) -> str:
        return f"{self.webserver_url.rstrip('/')}/runs/{run_id}"

    def secrets(self) -> list[str]:
        return [value for value in (self.webhook_url, self.slack_token) if value] + secret_values(os.environ)

    def slack_resource(self):
        """dagster-slack's resource for the configured token, None when Slack is not configured."""
        if not self.slack_enabled:
            return None
        from dagster_slack import SlackResource

        return SlackResource(token=self.slack_token or "")

    def send(self, alert: Alert) -> list[str]:
        """Post `alert` to every destination; returns the destinations reached."""
        sent = []
        if self.webhook_enabled:
            self._post_webhook(alert)
            sent.append(self.destinations()[0])
        slack = self.slack_resource()
        if slack is not None:
            try:
                slack.get_client().chat_postMessage(channel=self.slack_channel, text=alert.text())
            except Exception as error:
                raise AlertDeliveryError(
                    f"the alert could not be posted to Slack channel {self.slack_channel}: {type(error).__name__}"
                ) from None
            sent.append(f"Slack channel {self.slack_channel}")
        return sent

    def _post_webhook(self, alert: Alert) -> None:
        request = urllib.request.Request(
            self.webhook_url or "",
            data=json.dumps(alert.payload(), sort_keys=True).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                response.read()
        except (urllib.error.URLError, OSError) as error:
            reason = error.code if isinstance(error, urllib.error.HTTPError) else type(error).__name__
            host = urlsplit(self.webhook_url or "").hostname
            raise AlertDeliveryError(f"the alert webhook at {host} did not take the alert ({reason})") from None
