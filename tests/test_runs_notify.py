"""Webhook notifications at a run's end, received by a server on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from recsys_lib.runs.notify import NOTIFY_ENV, post_json
from recsys_lib.runs.record import RunRecord


@pytest.fixture
def webhook(monkeypatch):
    """A local webhook: yields the list of JSON bodies it received."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers["Content-Length"])
            received.append({"type": self.headers["Content-Type"],
                             "body": json.loads(self.rfile.read(length))})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(NOTIFY_ENV, f"http://127.0.0.1:{server.server_port}/hook")
    yield received
    server.shutdown()
    server.server_close()


def test_a_finished_run_posts_its_metrics(webhook, tmp_path):
    record = RunRecord(tmp_path / "run", "classical_cf", {"EXPERIMENT_ID": "knn"})
    record.add_metrics("ItemKNN", {"rmse": 0.91234, "ndcg@10": 0.25})
    record.finish()
    assert len(webhook) == 1 and webhook[0]["type"] == "application/json"
    content = webhook[0]["body"]["content"]
    assert content.startswith(f"recsys classical_cf [knn] finished: {tmp_path / 'run'}")
    assert "ItemKNN: rmse 0.9123, ndcg@10 0.25" in content


def test_failed_and_interrupted_runs_post_why(webhook, tmp_path):
    RunRecord(tmp_path / "a", "vae_training", {}).fail(ValueError("SPLIT must be one of x"))
    RunRecord(tmp_path / "b", "vae_training", {}).interrupt("SIGTERM", tmp_path / "last.pt")
    failed, interrupted = (hook["body"]["content"] for hook in webhook)
    assert "FAILED" in failed and "ValueError: SPLIT must be one of x" in failed
    assert "interrupted" in interrupted and "interrupted by SIGTERM" in interrupted


def test_an_unreachable_webhook_is_a_warning_not_a_failed_run(monkeypatch, tmp_path, caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(NOTIFY_ENV, f"http://127.0.0.1:{port}/hook")
    record = RunRecord(tmp_path / "run", "classical_cf", {})
    with caplog.at_level(logging.WARNING, logger="recsys_lib.runs.notify"):
        record.finish()
    assert record.status == "ok"
    assert json.loads((tmp_path / "run" / "results.json").read_text())["status"] == "ok"
    assert "notification to" in caplog.text and "failed" in caplog.text


def test_a_silent_webhook_times_out():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # accepts the connection, never answers
    try:
        started = time.monotonic()
        assert post_json(f"http://127.0.0.1:{server.getsockname()[1]}/", {"content": "x"},
                         timeout_s=0.5) is False
        assert time.monotonic() - started < 3
    finally:
        server.close()


def test_no_url_posts_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv(NOTIFY_ENV, raising=False)
    from recsys_lib.runs.notify import notify_run_end

    assert notify_run_end({"status": "ok"}, tmp_path) is False
