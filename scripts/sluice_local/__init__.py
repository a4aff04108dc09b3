"""Sluice local runtime: deploys template.yaml into the embedded AWS emulator (moto).

By role: ``emulator`` (moto, its fixes and strict checks, the template's deployment, Lambda's
invocations, IAM), ``sources`` (the event sources moto does not drive), ``servers`` (stand-ins
for the services outside AWS) and ``jobs`` (what ``cli`` runs). Lower layers never import higher
ones, and nothing here imports the operator tools (tests/unit/sluice_local/test_layering.py)."""
