"""DrainLease's code root and the common layer on sys.path, as Lambda lays them out (its modules
importable by the folder's tests before they are collected)."""

from __future__ import annotations

from testkit.functions import function_under_test

fresh_handler = function_under_test("drain_lease")
