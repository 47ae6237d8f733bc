"""After a run: the result model, its building (with root-cause probes), business impact and
verdict, evidence, diagnosis, the views and templates, and writing the reports."""
