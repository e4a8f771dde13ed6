"""The stand-in's counters endpoint, for a stand-in running in another process (benchmarks)."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.error
import urllib.request

import pytest

from invoice_assets.standin import StandIn

KEY = "sk-test-counters"


def _get(url: str, key: str = KEY) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return dict(json.load(answer))


def test_counters_report_requests_in_flight_and_reset_their_maximum() -> None:
    with StandIn(api_key=KEY) as standin:
        url = standin.base_url.rstrip("/") + "/_standin/counters"
        standin.slow(0.3)
        body = {"model": "m", "input": []}

        def post() -> None:
            request = urllib.request.Request(
                standin.base_url.rstrip("/") + "/responses",
                data=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
            )
            with contextlib.suppress(urllib.error.HTTPError):  # refused, but counted
                urllib.request.urlopen(request, timeout=5).read()

        threads = [threading.Thread(target=post) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        seen = _get(url + "?reset=1")  # a request may still be leaving after its answer
        assert seen["calls"] == 3 and seen["max_in_flight"] == 3
        assert _get(url)["max_in_flight"] == seen["in_flight"]  # restarted from in flight


def test_counters_need_the_key() -> None:
    with StandIn(api_key=KEY) as standin:
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(standin.base_url.rstrip("/") + "/_standin/counters", key="wrong")
        assert refused.value.code == 401
