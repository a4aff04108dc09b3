"""Event sources moto does not drive, run by the local runtime as AWS runs them: EventBridge
Pipes (pipes), Kinesis event source mappings (streams) and EventBridge schedules (schedules)."""
