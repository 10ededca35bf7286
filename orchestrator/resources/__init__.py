"""Resources: GCS client, bucket and folder managers, listings, spec cache, publish policy, the
incremental build's state files, and the resource set of each deployment (`deployments`)."""
