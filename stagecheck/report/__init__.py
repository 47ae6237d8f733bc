"""The result model and its pure build from behave's model and the run's record; impact and
verdict, evidence, diagnosis, views, rendering, and the merge of shards and parts."""
