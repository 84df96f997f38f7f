"""The analysis gate's Prometheus reader against a real Prometheus (v3.5.0 on loopback): what
each answer shape becomes (one number, or inconclusive with the reason), and that credentials in the
address never show in a reading."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from tests.support.series_prometheus import PrometheusProcess, SeriesTarget, free_port, prometheus_scraping
from tradingbot_operator.prometheus import Prometheus

SICK = 'ploy_test_sick{color="green"}'


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusProcess]:
    with prometheus_scraping(tmp_path_factory.mktemp("prometheus")) as (prom, target):
        _serve(prom, target)
        yield prom


def _serve(prom: PrometheusProcess, target: SeriesTarget) -> None:
    target.set(SICK, 0.25)
    target.set('ploy_test_two{color="blue"}', 1)
    target.set('ploy_test_two{color="green"}', 2)
    prom.wait_value("count(ploy_test_two)", 2.0)
    prom.wait_value(SICK, 0.25)


@pytest.mark.parametrize(
    ("query", "value", "error"),
    [
        (SICK, 0.25, ""),
        ("max(ploy_test_two)", 2.0, ""),
        ("scalar(ploy_test_two{color='blue'})", 1.0, ""),
        ("3", 3.0, ""),
        ("ploy_test_missing", None, "no series (empty result)"),
        ("ploy_test_two", None, "2 series; aggregate the query to one"),
        ("0/0", None, "the value is NaN"),
        ('"text"', None, "the query returned a string"),
        ("max(", None, "Prometheus refused the query (HTTP 400 bad_data): "),
    ],
)
async def test_answer_shapes(
    prometheus: PrometheusProcess, query: str, value: float | None, error: str
) -> None:
    reader = Prometheus(prometheus.url)
    try:
        reading = await reader.read(query)
    finally:
        await reader.close()
    assert reading.value == value and error in reading.error, reading
    assert reading.value is None or math.isfinite(reading.value)


async def test_read_all_answers_by_name(prometheus: PrometheusProcess) -> None:
    reader = Prometheus(prometheus.url + "/")
    try:
        readings = await reader.read_all({"a": SICK, "b": "ploy_test_missing"})
    finally:
        await reader.close()
    assert readings["a"].value == 0.25 and readings["b"].value is None


async def test_unreachable_is_inconclusive_and_hides_credentials() -> None:
    reader = Prometheus(f"http://ploy:s3cret@127.0.0.1:{free_port()}", timeout=2.0)
    try:
        reading = await reader.read("up")
    finally:
        await reader.close()
    assert reading.value is None and reading.error.startswith("Prometheus unreachable: ConnectError")
    assert "s3cret" not in reading.error


async def test_no_address_is_inconclusive() -> None:
    reading = await Prometheus(None).read("up")
    assert reading.value is None and "no Prometheus address configured" in reading.error


def test_credentials_are_redacted_from_any_message() -> None:
    reader = Prometheus("http://ploy:s3cret@prometheus.example:9090")
    assert reader._redact("GET http://ploy:s3cret@prometheus.example:9090/api failed") == (
        "GET http://***@prometheus.example:9090/api failed"
    )
