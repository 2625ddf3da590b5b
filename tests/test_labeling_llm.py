"""The LLM labeller against a real HTTP server on 127.0.0.1 speaking the chat-completions API."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import soundfile as sf
from test_labeling_support import SR, all_labels, clips_from_audio, harmonic_tone, stored_text

from musae_core.errors import MusaeError
from musae_core.labeling.label_job import run_label_job
from musae_core.labeling.llm_client import (
    ChatClient,
    LLMBudgetExceeded,
    LLMError,
    LLMSettings,
    parse_retry_after,
)
from musae_core.labeling.llm_labeler import LLMLabeller, concatenate_clips, parse_answer
from musae_core.labeling.methods import LLMMethod

KEY = "sk-test-SECRET-0123456789"
GOOD = {
    "concepts": [{"name": "bright piano", "confidence": 0.8}, {"name": "calm", "confidence": 0.4}],
    "description": "Solo piano, soft and bright.",
}


def chat(content: str) -> dict:
    return {
        "status": 200,
        "body": {"choices": [{"message": {"role": "assistant", "content": content}}]},
    }


class ChatServer:
    """Answers POSTs from a script of responses (the last one repeats); records requests."""

    def __init__(self, script: list[dict]) -> None:
        self.script = list(script)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with server.lock:
                    server.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": body}
                    )
                    reply = server.script.pop(0) if len(server.script) > 1 else server.script[0]
                if callable(reply):
                    reply = reply(body)
                time.sleep(reply.get("delay", 0.0))
                raw = reply.get("raw")
                if raw is None:
                    raw = json.dumps(reply.get("body", {})).encode()
                try:
                    self.send_response(reply.get("status", 200))
                    for name, value in reply.get("headers", {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(*script):
        server = ChatServer(list(script))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


class SleepRecorder:
    """Records requested waits instead of sleeping (no test depends on wall-clock time)."""

    def __init__(self) -> None:
        self.total = 0.0

    def __call__(self, seconds: float) -> None:
        self.total += seconds


def client_for(server, sleep=None, **overrides) -> ChatClient:
    options = dict(timeout_s=5.0, max_retries=3, backoff_s=0.01, requests_per_minute=0)
    options.update(overrides)
    settings = LLMSettings(url=server.url, model="audio-model", api_key=KEY, **options)
    return ChatClient(settings, sleep=sleep or SleepRecorder())


def clips(n=3):
    return [harmonic_tone(60 + 5 * i, seconds=1.0) for i in range(n)]


def test_good_answer_becomes_labels_and_request_follows_the_api(serve):
    server = serve(chat(json.dumps(GOOD)))
    labels = LLMLabeller(client_for(server)).label(clips(), SR)
    assert [(lab.text, lab.score) for lab in labels] == [("bright piano", 0.8), ("calm", 0.4)]
    assert labels[0].description == "Solo piano, soft and bright."
    assert labels[0].source == "llm" and labels[0].evidence["n_clips"] == 3
    request = server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    assert request["body"]["model"] == "audio-model"
    parts = request["body"]["messages"][0]["content"]
    audio_part = next(p for p in parts if p["type"] == "input_audio")
    assert audio_part["input_audio"]["format"] == "wav"
    audio, rate = sf.read(io.BytesIO(base64.b64decode(audio_part["input_audio"]["data"])))
    assert rate == 16_000 and len(audio) == pytest.approx(16_000 * (3 * 1.0 + 2 * 0.5), abs=10)


def test_garbage_json_is_asked_again_then_rejected(serve):
    garbage = chat(json.dumps({"concepts": [{"name": "", "confidence": "very"}, 42]}))
    server = serve(garbage)
    with pytest.raises(LLMError):
        LLMLabeller(client_for(server), parse_retries=1).label(clips(), SR)
    assert len(server.requests) == 2


def test_non_json_text_then_good_answer_succeeds(serve):
    server = serve(chat("Sure! These clips sound like piano music."), chat(json.dumps(GOOD)))
    labels = LLMLabeller(client_for(server)).label(clips(), SR)
    assert labels[0].text == "bright piano" and len(server.requests) == 2


def test_server_errors_are_retried_with_backoff(serve):
    sleep = SleepRecorder()
    error = {"status": 500, "body": {"error": "boom"}}
    server = serve(error, error, chat(json.dumps(GOOD)))
    labels = LLMLabeller(client_for(server, sleep=sleep)).label(clips(), SR)
    assert labels and len(server.requests) == 3
    assert sleep.total == pytest.approx(0.01 + 0.02)


def test_slow_responses_time_out_and_fail_after_retries(serve):
    server = serve({**chat(json.dumps(GOOD)), "delay": 1.0})
    client = client_for(server, timeout_s=0.2, max_retries=1)
    with pytest.raises(LLMError, match="failed after 2 attempts"):
        LLMLabeller(client).label(clips(), SR)
    assert client.requests_made == 2


def test_429_honours_retry_after(serve):
    sleep = SleepRecorder()
    limited = {"status": 429, "headers": {"Retry-After": "3"}, "body": {"error": "slow down"}}
    server = serve(limited, chat(json.dumps(GOOD)))
    labels = LLMLabeller(client_for(server, sleep=sleep)).label(clips(), SR)
    assert labels and sleep.total == pytest.approx(3.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_rate_limit_spaces_requests(serve):
    sleep = SleepRecorder()
    server = serve(chat(json.dumps(GOOD)))
    client = client_for(server, sleep=sleep, requests_per_minute=30)
    client._clock = lambda: 100.0  # a frozen clock: every gap must be waited out in full
    labeller = LLMLabeller(client)
    labeller.label(clips(), SR)
    labeller.label(clips(), SR)
    assert sleep.total == pytest.approx(2.0)


def test_request_budget_stops_the_client(serve):
    server = serve({"status": 503, "body": {}})
    with pytest.raises(LLMBudgetExceeded):
        LLMLabeller(client_for(server, max_requests=2, max_retries=5)).label(clips(), SR)
    assert len(server.requests) == 2


def test_client_errors_are_not_retried_and_never_echo_the_key(serve):
    server = serve({"status": 401, "body": {"error": f"bad key {KEY}"}})
    with pytest.raises(LLMError) as info:
        LLMLabeller(client_for(server)).label(clips(), SR)
    assert len(server.requests) == 1
    assert KEY not in str(info.value) and "HTTP 401" in str(info.value)


def test_parse_answer_tolerates_fences_and_percentages_and_rejects_junk():
    fenced = (
        'Here you go:\n```json\n{"concepts": [{"name": "Jazz  drums", "confidence": "85%"}],'
        ' "description": "Brushed drums."}\n```'
    )
    answer = parse_answer(fenced)
    assert answer.concepts == (("Jazz drums", 0.85),) and answer.description == "Brushed drums."
    assert parse_answer('{"concepts": [], "description": "nothing shared"}').concepts == ()
    for junk in (
        "no json here",
        "[1, 2]",
        '{"concepts": [{"name": "x" }]}',
        '{"foo": 1}',
        '{"concepts": [{"name": "12345", "confidence": 0.5}]}',
        '{"concepts": [{"name": "loud", "confidence": 7000}]}',
    ):
        with pytest.raises(LLMError):
            parse_answer(junk)


def test_audio_budget_trims_every_clip_and_refuses_impossible_budgets():
    settings = LLMSettings(url="http://127.0.0.1:1/v1", model="m", max_audio_seconds=4.0)
    bundle = concatenate_clips(clips(3), SR, settings)
    assert bundle.seconds <= 4.0 and len(bundle.clip_seconds) == 3
    tight = LLMSettings(url="http://127.0.0.1:1/v1", model="m", max_audio_seconds=1.0)
    with pytest.raises(MusaeError):
        concatenate_clips(clips(3), SR, tight)


def test_settings_from_env_and_key_is_hidden():
    with pytest.raises(MusaeError, match="MUSAE_LLM_URL"):
        LLMSettings.from_env(env={}, use_keyring=False)
    env = {
        "MUSAE_LLM_URL": "http://127.0.0.1:9/v1/",
        "MUSAE_LLM_MODEL": "m",
        "MUSAE_LLM_API_KEY": KEY,
    }
    settings = LLMSettings.from_env(env=env, use_keyring=False, max_requests=7)
    assert settings.api_key == KEY and settings.max_requests == 7
    assert settings.endpoint == "http://127.0.0.1:9/v1/chat/completions"
    assert KEY not in repr(settings)


def test_llm_job_records_errors_hides_the_key_and_resumes(serve, tmp_path, caplog, labelling_db):
    db = labelling_db({
        f: clips_from_audio(tmp_path, f"f{f}", [harmonic_tone(50 + f + i, 1.0) for i in range(3)])
        for f in range(4)
    })  # fmt: skip
    bad_feature_seen = []

    def reply(body):
        # Requests arrive in feature order: feature 1's answer and its re-ask are junk.
        bad_feature_seen.append(1)
        if len(bad_feature_seen) in (2, 3):  # feature 1: first answer and its re-ask
            return chat(f"I cannot help with that, {KEY}")
        return chat(json.dumps(GOOD))

    server = serve(reply)
    caplog.set_level(logging.DEBUG)
    method = LLMMethod(LLMLabeller(client_for(server)))
    first = run_label_job(db, method, [0, 1, 2, 3])
    assert (first.done, first.failed) == (3, 1)
    assert [(e.feature_id, e.job) for e in db.errors()] == [(1, method.job)]
    assert {row.feature_id for row in all_labels(db)} == {0, 2, 3}
    requests_before = len(server.requests)

    second = run_label_job(db, LLMMethod(LLMLabeller(client_for(server))), [0, 1, 2, 3])
    assert (second.done, second.skipped, second.failed) == (1, 3, 0)
    assert len(server.requests) == requests_before + 1  # only the missing feature
    assert {row.feature_id for row in all_labels(db)} == {0, 1, 2, 3}
    assert len(all_labels(db)) == 8  # two concepts per feature, none duplicated
    assert KEY not in stored_text(db)
    assert KEY not in caplog.text
    evidence = all_labels(db)[0].evidence
    assert evidence["llm_model"] == "audio-model" and evidence["job"] == method.job
    assert np.isclose(evidence["audio_seconds"], 4.0, atol=0.01)


def dead_url(userinfo: str = "") -> str:
    """A base URL on 127.0.0.1 where nothing listens (a port bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://{userinfo}127.0.0.1:{port}/v1"


def test_dead_endpoint_stops_the_job_after_consecutive_connection_failures(
    tmp_path, caplog, labelling_db
):
    """Nothing listening: the job stops after 3 refused connections with one message naming
    the endpoint and how to resume, rather than 5 tries per feature until the budget is spent;
    no feature is blamed for it, and the URL's password never shows."""
    db = labelling_db({
        f: clips_from_audio(tmp_path, f"f{f}", [harmonic_tone(50 + f, 1.0)]) for f in range(4)
    })  # fmt: skip
    url = dead_url("alice:hunter2-pw@")
    settings = LLMSettings(url=url, model="m", backoff_s=0.01, requests_per_minute=0)
    client = ChatClient(settings, sleep=SleepRecorder())
    caplog.set_level(logging.DEBUG)
    summary = run_label_job(db, LLMMethod(LLMLabeller(client)), [0, 1, 2, 3])
    assert client.requests_made == 3 and (summary.done, summary.failed) == (0, 0)
    assert db.errors() == [] and "Could not connect to the LLM endpoint" in summary.stopped
    assert url.replace("alice:hunter2-pw@", "") in summary.stopped
    assert "ConnectionRefusedError" in summary.stopped and "--llm-url" in summary.stopped
    assert "hunter2-pw" not in summary.stopped + caplog.text + repr(settings)


def test_connection_failures_count_across_features_and_an_answer_resets_them(serve):
    from musae_core.labeling.llm_client import LLMEndpointUnreachable

    dead = LLMSettings(
        url=dead_url(), model="m", max_retries=1, backoff_s=0.01, requests_per_minute=0
    )
    client = ChatClient(dead, sleep=SleepRecorder())
    with pytest.raises(LLMError, match="failed after 2 attempts"):  # feature 1 fails alone
        LLMLabeller(client).label(clips(), SR)
    with pytest.raises(LLMEndpointUnreachable, match="3 attempts in a row"):  # then the job
        LLMLabeller(client).label(clips(), SR)
    client = ChatClient(dead, sleep=SleepRecorder())
    with pytest.raises(LLMError, match="failed after 2 attempts"):
        LLMLabeller(client).label(clips(), SR)
    client.settings = LLMSettings(
        url=serve({"status": 400, "body": {}}).url, model="m", requests_per_minute=0
    )
    with pytest.raises(LLMError, match="HTTP 400"):  # the server answered: the count restarts
        LLMLabeller(client).label(clips(), SR)
    client.settings = dead
    with pytest.raises(LLMError, match="failed after 2 attempts"):  # 2 in a row, not 4
        LLMLabeller(client).label(clips(), SR)


def test_url_user_and_password_become_basic_auth_and_never_show(serve):
    server = serve(chat(json.dumps(GOOD)))
    url = server.url.replace("http://", "http://alice:p%40ss-word@")
    settings = LLMSettings(url=url, model="m", requests_per_minute=0)
    labels = LLMLabeller(ChatClient(settings)).label(clips(), SR)
    assert labels and server.requests[0]["path"] == "/v1/chat/completions"
    expected = "Basic " + base64.b64encode(b"alice:p@ss-word").decode()
    assert server.requests[0]["headers"]["Authorization"] == expected
    assert "p@ss-word" not in repr(settings) and "p%40ss" not in repr(settings)
    assert settings.url == server.url
    with pytest.raises(MusaeError, match="user:password@ and an API key") as info:
        LLMSettings(url=url, model="m", api_key=KEY)
    assert "p%40ss" not in str(info.value) and KEY not in str(info.value)
