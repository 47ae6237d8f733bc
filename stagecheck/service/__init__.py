"""`stagecheck serve`: the gate on demand over HTTP (app: endpoints; runs: behave processes, one
per target; targets: the allow-list)."""
