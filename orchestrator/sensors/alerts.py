"""Alert sensors: a run of this code location failed; a check failed in a run that succeeded (a
bad metadata file, an entry that could not be built). Both post through `alert_notifier` and say
so in their skip reason when no destination is configured."""

from __future__ import annotations

import json

from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    TableMetadataValue,
    run_failure_sensor,
    sensor,
)

from orchestrator.logic.alerts import (
    CheckOutcome,
    check_fingerprint,
    checks_to_alert,
    failed_check_alert,
    run_failure_alert,
)
from orchestrator.resources.alerts import ALERTS_OFF, AlertNotifier
from orchestrator.sensors.metadata import sensor_default_status, sensor_interval_seconds

RUN_FAILURE_SENSOR = "alert_on_run_failure"
FAILED_CHECK_SENSOR = "alert_on_failed_checks"
# Successful runs looked at per tick; more wait for the next tick.
RUNS_PER_TICK = 25


def check_evaluations(instance, run_id: str) -> list[AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    return [
        record.event_log_entry.dagster_event.event_specific_data
        for record in records
        if record.event_log_entry.dagster_event is not None
    ]


def error_message(error) -> str:
    """The user's own error behind Dagster's wrapper ("Error occurred while executing op ...")."""
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    return error.message


def _check_key(evaluation: AssetCheckEvaluation) -> str:
    return f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"


@run_failure_sensor(
    name=RUN_FAILURE_SENSOR,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=sensor_default_status(),
    description=(
        "Posts a short message (job, run URL, failing steps and checks, first lines of the reason) when a run "
        "of this code location fails: to ORCHESTRATOR_ALERT_WEBHOOK_URL and/or Slack (SLACK_TOKEN, SLACK_CHANNEL)."
    ),
)
def alert_on_run_failure(context: RunFailureSensorContext, alert_notifier: AlertNotifier):
    if not alert_notifier.enabled:
        return SkipReason(ALERTS_OFF)
    run = context.dagster_run
    failed_steps = []
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error if event.step_failure_data else None
        failed_steps.append((event.step_key or "?", error_message(error) if error else (event.message or "")))
    failed_checks = [
        _check_key(evaluation)
        for evaluation in check_evaluations(context.instance, run.run_id)
        if not evaluation.passed
    ]
    alert = run_failure_alert(
        run.job_name,
        run.run_id,
        alert_notifier.run_url(run.run_id),
        failed_steps,
        context.failure_event.message or "the run failed",
        failed_checks,
        alert_notifier.secrets(),
    )
    sent = alert_notifier.send(alert)
    context.log.info(f"alerted {', '.join(sent)}: {alert.title}")
    return None


@sensor(
    name=FAILED_CHECK_SENSOR,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=sensor_default_status(),
    description=(
        "Posts a short message when a check fails in a run that succeeded (an invalid metadata file, an entry that "
        "could not be built): once per failure, again only when what fails changes or after the check passed."
    ),
)
def alert_on_failed_checks(context: SensorEvaluationContext, alert_notifier: AlertNotifier) -> SensorResult:
    if not alert_notifier.enabled:
        return SensorResult(skip_reason=SkipReason(ALERTS_OFF), cursor=context.cursor)
    state = json.loads(context.cursor) if context.cursor else None
    instance = context.instance
    if state is None:
        # First tick: only the newest successful run, not the instance's whole history.
        found = instance.fetch_run_status_changes(DagsterEventType.RUN_SUCCESS, limit=1)
        alerted: dict[str, str] = {}
    else:
        found = instance.fetch_run_status_changes(
            DagsterEventType.RUN_SUCCESS, limit=RUNS_PER_TICK, cursor=state["runs"], ascending=True
        )
        alerted = state["alerted"]
    outcomes = []
    runs = {}
    for record in found.records:
        run = instance.get_run_by_id(record.event_log_entry.run_id)
        if run is None:
            continue
        runs[run.run_id] = run
        for evaluation in check_evaluations(instance, run.run_id):
            tables = {key: value for key, value in evaluation.metadata.items() if isinstance(value, TableMetadataValue)}
            description = evaluation.description or ""
            outcomes.append(
                CheckOutcome(
                    _check_key(evaluation),
                    evaluation.passed,
                    check_fingerprint(description, tables),
                    description,
                    run.job_name,
                    run.run_id,
                )
            )
    to_alert, alerted = checks_to_alert(outcomes, alerted)
    for outcome in to_alert:
        alert = failed_check_alert(outcome, alert_notifier.run_url(outcome.run_id), alert_notifier.secrets())
        sent = alert_notifier.send(alert)
        context.log.info(f"alerted {', '.join(sent)}: {alert.title}")
    cursor = json.dumps({"runs": found.cursor, "alerted": alerted})
    if to_alert:
        return SensorResult(cursor=cursor)
    return SensorResult(
        skip_reason=SkipReason(f"{len(runs)} finished runs looked at; no check failed anew"), cursor=cursor
    )
