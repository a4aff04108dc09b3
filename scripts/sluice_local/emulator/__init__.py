"""The emulated AWS account: moto with its fixes and the strict checks AWS makes (Step Functions,
SQS, S3), the template's translation and deployment (LocalPipeline), Lambda's invocation of the
handlers in-process, and IAM enforcement (:mod:`sluice_local.emulator.iam`)."""

ACCOUNT = "123456789012"  # moto's default account: every ARN the runtime builds
