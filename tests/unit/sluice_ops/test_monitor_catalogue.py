"""`sluice monitor` reads only metrics the layer's catalogue lists."""

from __future__ import annotations

import pytest

from sluice_ops.catalogue import metric_catalogue as catalogue
from sluice_ops.monitor_metrics import Query


def test_a_query_for_a_metric_the_catalogue_lacks_is_refused() -> None:
    with pytest.raises(catalogue.MetricNotCatalogued, match="RowSent"):
        Query("rows", catalogue.PIPELINE_NAMESPACE, "RowSent", (), "Sum")
    with pytest.raises(catalogue.MetricNotCatalogued, match="AWS/Lambda/RowsSent"):
        Query("rows", "AWS/Lambda", "RowsSent", (), "Sum")


def test_catalogued_metrics_in_either_namespace_are_read() -> None:
    Query("rows", catalogue.PIPELINE_NAMESPACE, "RowsSent", (), "Sum")
    Query("errors", "AWS/Lambda", "Errors", (("FunctionName", "f"),), "Sum")
