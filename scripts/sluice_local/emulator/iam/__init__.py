"""IAM and KMS decided as AWS decides them, for the calls the pipeline's roles and services make:
the policy evaluator (policy), what each API call needs (aws_calls), SAM's managed policies as
pinned (managed_policies), the deployed stack's policies as data (model), the enforcer (enforcer:
decisions, creation-time and run-time service checks), its hooks into botocore and moto (hooks)
and the iam-report command (report)."""
