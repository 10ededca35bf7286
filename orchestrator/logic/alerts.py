"""Alert messages for a failed run or a failed check: short, with the job, the run's URL, what
failed and the first lines of why; never a credential. Pure: text in, text out."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

REDACTED = "[redacted]"
REASON_LINES = 5
REASON_CHARS = 600
# Secrets found by their shape, whatever variable they came from: (pattern, replacement).
SECRET_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL), REDACTED),
    (re.compile(r'("private_key(?:_id)?"\s*:\s*")[^"]*(")'), rf"\g<1>{REDACTED}\g<2>"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]+"), REDACTED),  # Slack tokens
    (re.compile(r"\bya29\.[A-Za-z0-9._-]+"), REDACTED),  # Google OAuth access tokens
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), REDACTED),  # Google API keys
    (re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{12,}"), rf"\g<1> {REDACTED}"),
    (re.compile(r"(?i)([?&](?:token|key|secret|signature|sig|password|access_token)=)[^&\s]+"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), rf"\g<1>{REDACTED}@"),  # user:password@
    (re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"), REDACTED),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without any of `secrets` (longest first, so a value containing another goes whole)
    and without anything shaped like a credential."""
    for secret in sorted({value for value in secrets if value and len(value) >= 6}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def first_lines(text: str, lines: int = REASON_LINES, limit: int = REASON_CHARS) -> str:
    """The first non-empty lines of `text`, at most `limit` characters, with an ellipsis when cut."""
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()]
    shown = "\n".join(kept[:lines])
    if len(shown) > limit:
        shown = shown[: limit - 1].rstrip() + "…"
    elif len(kept) > lines:
        shown += "\n…"
    return shown


@dataclass(frozen=True)
class Alert:
    kind: str  # "run_failure" or "failed_check"
    title: str
    job: str
    run_id: str
    run_url: str
    failed: str  # the failing step(s) or check
    reason: str

    def text(self) -> str:
        what = "Step" if self.kind == "run_failure" else "Check"
        return f"{self.title}\nJob: {self.job}\nRun: {self.run_url}\n{what}: {self.failed}\nReason: {self.reason}"

    def payload(self) -> dict:
        """The JSON posted to the webhook; `text` alone is what chat webhooks (Slack's) display."""
        return {
            "text": self.text(),
            "kind": self.kind,
            "title": self.title,
            "job": self.job,
            "run_id": self.run_id,
            "run_url": self.run_url,
            "failed": self.failed,
            "reason": self.reason,
        }


def run_failure_alert(
    job: str,
    run_id: str,
    run_url: str,
    failed_steps: Sequence[tuple[str, str]],
    run_message: str,
    failed_checks: Sequence[str] = (),
    secrets: Iterable[str] = (),
) -> Alert:
    """`failed_steps`: (step key, error message) of each failed step; `failed_checks`: the checks
    that failed in the run, as `asset:check`."""
    secrets = list(secrets)
    failed = ", ".join(step for step, _ in failed_steps) or "(no step failed: the run itself)"
    if failed_checks:
        failed += f"; failed checks: {', '.join(failed_checks)}"
    reasons = [f"{step}: {message}" for step, message in failed_steps] or [run_message]
    return Alert(
        kind="run_failure",
        title=f"{job} run {run_id[:8]} failed",
        job=job,
        run_id=run_id,
        run_url=run_url,
        failed=redact(failed, secrets),
        reason=redact(first_lines("\n".join(reasons)), secrets),
    )


@dataclass(frozen=True)
class CheckOutcome:
    """One check evaluation of a finished run, as the failed-check alert needs it."""

    key: str  # asset:check
    passed: bool
    fingerprint: str  # what failed, so that the same failure is announced once
    description: str
    job: str
    run_id: str


def check_fingerprint(description: str, tables: Mapping[str, object]) -> str:
    """Of the check's tables (the failing rows) when it has any, else of its description: counts
    that move with the bucket (how many files there are) do not make the same failure new."""
    basis = repr(sorted((key, repr(value)) for key, value in tables.items())) if tables else description
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def checks_to_alert(
    outcomes: Sequence[CheckOutcome], alerted: Mapping[str, str]
) -> tuple[list[CheckOutcome], dict[str, str]]:
    """The failed checks to announce (failing for the first time, or failing differently) and what
    has been announced since (a check that passes again is forgotten, so its next failure is new).
    `outcomes` in the order the runs finished; `alerted`: check key -> fingerprint announced."""
    state = dict(alerted)
    to_alert: dict[str, CheckOutcome] = {}
    for outcome in outcomes:
        if outcome.passed:
            state.pop(outcome.key, None)
            to_alert.pop(outcome.key, None)
        elif state.get(outcome.key) != outcome.fingerprint:
            state[outcome.key] = outcome.fingerprint
            to_alert[outcome.key] = outcome
    return list(to_alert.values()), dict(sorted(state.items()))


def failed_check_alert(outcome: CheckOutcome, run_url: str, secrets: Iterable[str] = ()) -> Alert:
    asset, _, check = outcome.key.partition(":")
    return Alert(
        kind="failed_check",
        title=f"check {check} on {asset} failed in {outcome.job} run {outcome.run_id[:8]}",
        job=outcome.job,
        run_id=outcome.run_id,
        run_url=run_url,
        failed=outcome.key,
        reason=redact(first_lines(outcome.description), secrets),
    )
