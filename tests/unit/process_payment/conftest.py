"""ProcessPayment's code root and the common layer on sys.path, as Lambda lays them out."""

from __future__ import annotations

from testkit.functions import function_under_test

fresh_handler = function_under_test("process_payment")
