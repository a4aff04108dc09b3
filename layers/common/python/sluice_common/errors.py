"""Errors with messages a person can act on.

The class name is the error name Step Functions sees (Lambda reports ``errorType`` as the class
name), so the drain's Retry and Catch match on these names: keep them stable.
"""

from __future__ import annotations


class SluiceError(Exception):
    """Base of every error the pipeline raises on purpose."""

    retryable: bool = False

    @property
    def reason(self) -> str:
        return str(self)


class MalformedEvent(SluiceError):
    """The event is neither an S3 "Object Created" EventBridge event nor the s3_details contract."""


class ObjectNotFound(SluiceError):
    """The object (or its bucket) no longer exists."""


class AccessDenied(SluiceError):
    """The function's role may not read the object."""


class EmptyObject(SluiceError):
    """The object has zero bytes."""


class NotCsv(SluiceError):
    """The object is binary, its header is unreadable, or its key is a folder marker."""


class TransientError(SluiceError):
    """S3 throttling, a 5xx or a network fault: worth retrying later."""

    retryable = True


class ObjectBusy(SluiceError):
    """Another invocation holds one of the object's rows (or stopped mid-row and its lock has not
    expired yet): the drain puts the message back until that lock must have expired."""

    retryable = True


class InvalidPayment(SluiceError):
    """The event is not a valid payment event; the message says which field and why.

    The payment pipeline's workflow catches this name without retrying and dead-letters the
    message with the message as the reason: name the field, the value seen and what is allowed.
    """


class InvalidStreamEvent(SluiceError):
    """A Kinesis record of the stream pipeline is not a valid event; the message says which field
    and why.

    ProcessStream reports the record as a batch item failure (its sequence number) and logs the
    message with the record's shard, sequence number and partition key: name the field, the value
    seen and what is allowed.
    """


class NoProgress(SluiceError):
    """An object's invocations keep ending without moving its checkpoint (NoProgressLimit in a
    row): the message says where it stands and why, and the drain dead-letters it."""
