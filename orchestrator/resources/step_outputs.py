"""Step outputs kept in the metadata bucket (the `gcs` deployment), so that run workers on other
machines (Kubernetes) hand them to each other. Imported only by that deployment: dagster-gcp takes
seconds to import."""

from dagster import EnvVar
from dagster_gcp.gcs import GCSPickleIOManager, GCSResource
from google.cloud import storage

from orchestrator.resources.gcs import GcsClient

STEP_OUTPUTS_PREFIX = "orchestrator_state/dagster_io"


class GcsClientResource(GCSResource):
    """dagster-gcp's `gcs` resource with the client of `gcp_gcs_client`: the service account of
    GCS_CREDENTIALS, not Application Default Credentials, which a run worker given only that key
    does not have."""

    gcp_gcs_client: GcsClient

    def get_client(self) -> storage.Client:
        return self.gcp_gcs_client.get_client()


def bucket_pickle_io_manager(client: GcsClient, bucket_name: str | EnvVar) -> GCSPickleIOManager:
    return GCSPickleIOManager(
        gcs=GcsClientResource(gcp_gcs_client=client), gcs_bucket=bucket_name, gcs_prefix=STEP_OUTPUTS_PREFIX
    )
