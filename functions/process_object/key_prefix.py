"""ObjectKeyPrefix: the keys this pipeline reads, matched the way IAM matches the read grant.

ProcessObject's role may read only ``arn:<partition>:s3:::<bucket>/<ObjectKeyPrefix>*``. A message
for another key of the bucket (sent to a queue by hand, or redriven) would be refused by S3, and
that AccessDenied reads like a missing grant. Refused here first, without an S3 call, its reason
names the prefix instead.

IAM reads ``*`` in a resource ARN as any run of characters ('/' included) and ``?`` as exactly one
(IAM User Guide, "IAM JSON policy elements: Resource", using wildcards in resource ARNs), so the
prefix is matched the same way: the function refuses exactly the keys IAM would. ObjectCreatedRule's
EventBridge ``wildcard`` filter reads only ``*`` as a wildcard and ``?`` as itself, so every key it
delivers is one this prefix covers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sluice_common.errors import AccessDenied
from sluice_common.events import ObjectRef


def _iam_pattern(prefix: str) -> re.Pattern[str]:
    # DOTALL: an S3 key may hold a line break, and IAM's '*' and '?' match any character.
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in prefix)
    return re.compile("".join(parts), re.DOTALL)


@dataclass(frozen=True)
class KeyPrefix:
    text: str = ""  # ObjectKeyPrefix; empty covers every key
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", _iam_pattern(self.text))

    def covers(self, key: str) -> bool:
        # match(), not fullmatch(): the grant's ARN ends in '*', so anything may follow.
        return self._pattern.match(key) is not None

    def keys_to_read(self, ref: ObjectRef) -> list[str]:
        """``ref``'s key candidates this pipeline may read; AccessDenied when there is none."""
        keys = [key for key in ref.key_candidates() if self.covers(key)]
        if not keys:
            raise AccessDenied(
                f"{ref.uri} is outside ObjectKeyPrefix {self.text!r}: this pipeline reads only"
                " keys under it (its role may not read others); upload the object under the"
                " prefix, or send it to a pipeline whose ObjectKeyPrefix covers it"
            )
        return keys
