"""Streaming playback in the app: Render+Play is heard before the render ends, the finished take
replaces the stream in place, and cancel leaves no hooks, no partial take and no sound."""

from __future__ import annotations

import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QTimer
from test_app_flow import TIMEOUT, loaded, window  # noqa: F401

from musae_core.workstation import Project, Session

TOLERANCE = 1e-4  # streamed chunks vs the full decode (tests/test_speed_streaming.py)


def chunk(audio, start: int, final: bool = False):
    return SimpleNamespace(
        audio=np.asarray(audio, np.float32)[None], start_sample=start, final=final
    )


def no_hooks(model) -> bool:
    modules = [model.residual_module(layer) for layer in range(model.num_layers)]
    return not any(m._forward_hooks or m._forward_pre_hooks for m in modules)


class Watch:
    """Samples (player's available samples, render job state) on the UI thread every 5 ms."""

    def __init__(self, output, job) -> None:
        self.output, self.job, self.seen = output, job, []
        self.timer = QTimer(interval=5)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        core = self.output.core
        streaming = core.stream is not None
        self.seen.append((core.available, self.job.state, streaming, self.output.playing))

    def while_running(self) -> list[int]:
        return [a for a, state, streaming, _ in self.seen if state == "running" and streaming]


def test_core_waits_for_the_stream_and_swaps_in_the_take():
    from app.playback import PlaybackCore
    from app.stream_feed import StreamFeed

    core, feed = PlaybackCore(), StreamFeed(1000, 8000)
    core.start_stream(feed)
    core.playing = True
    out = np.ones((4096, 1), np.float32)
    core.fill(out[:100])
    assert core.playing and core.position == 0 and not out[:100].any()  # waiting, silent
    feed.push(chunk(np.full(300, 0.5), 0))
    tracemalloc.start()
    core.fill(out[:200])
    used = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert used < 4096  # no buffer allocated in the callback body
    assert core.position == 200 and np.all(out[:200] == 0.5)
    core.fill(out[:200])  # only 100 more are there: plays them, then holds
    assert core.position == 300 and core.playing and not out[100:200].any()
    feed.push(chunk(np.full(700, 0.25), 300, final=True))
    assert feed.complete and feed.available == 1000
    take = np.full(1000, 0.25, np.float32)
    core.load(take, take, (1.0, 0.5), 8000)  # the finished take: same position, its gains
    assert core.stream is None and core.position == 300
    core.fill(out[:100])
    assert np.allclose(out[:100], 0.125)
    feed.close()
    feed.push(chunk(np.zeros(10), 0))
    assert feed.chunks == 2  # a closed feed drops late chunks


def test_render_play_streams_then_swaps_in_the_same_take(loaded, qtbot, tiny_model, tiny_sae_dir):  # noqa: F811
    bench, output = loaded.bench, loaded.output
    bench.auto_render = False
    assert bench.settings.stream_playback and loaded.transport_bar.stream_action.isChecked()
    bench.set_master(duration=4.0, seed=21)  # uncached: the steered pass streams, then plain
    bench.add_feature(5, "piano 5")
    bench.update_channel(5, strength=2.0)
    loaded.transport_bar.render_play_action.trigger()
    job, feed = bench.jobs.current("render"), bench.streaming
    assert feed is not None and output.core.stream is feed and output.playing
    watch = Watch(output, job)
    with qtbot.waitSignal(bench.currentTakeChanged, timeout=TIMEOUT):
        pass
    watch.timer.stop()
    running = watch.while_running()
    assert any(0 < a < feed.total for a in running)  # heard before the render finished
    assert len(set(running) - {0}) >= 2  # and the count grew while the job ran
    assert all(playing for *_, playing in watch.seen[:3])
    take = bench.current_take
    assert output.core.stream is None and bench.streaming is None
    steered = take.steered.mean(0)
    assert feed.complete and np.abs(feed.data - steered).max() <= TOLERANCE  # seamless
    np.testing.assert_array_equal(output.core.buffers[1], steered)
    assert output.core.gains == take.gains
    reference = Session(project=Project(model_id="tiny"))
    reference.model = tiny_model
    reference.load_sae(tiny_sae_dir)
    plain = reference.render(take.master, take.mixer)  # no streaming, same seed and mixer
    np.testing.assert_array_equal(take.steered, plain.steered)
    np.testing.assert_array_equal(take.unsteered, plain.unsteered)
    assert take.gains == plain.gains
    np.testing.assert_allclose(take.activations[5], plain.activations[5], atol=1e-5)
    output.stop()


def test_cancel_mid_stream_stops_playback_and_keeps_no_take(loaded, qtbot, tiny_model):  # noqa: F811
    bench, output, bar = loaded.bench, loaded.output, loaded.transport_bar
    bench.auto_render = False
    bench.add_feature(5, "piano 5")
    bench.update_channel(5, strength=2.0)
    bench.set_master(duration=10.0, seed=31)
    job = bench.render(play=True)
    first = bench.streaming
    qtbot.waitUntil(lambda: first.available > 0, timeout=TIMEOUT)
    assert job.state == "running" and output.playing
    second = bench.render(play=True)  # a new render replaces the stream
    assert first.closed and bench.streaming is not first and output.core.stream is not first
    feed = bench.streaming
    qtbot.waitUntil(lambda: feed.available > 0 or second.state == "done", timeout=TIMEOUT)
    assert second.state == "running"
    bar.cancel_action.trigger()  # Esc
    assert not output.playing and output.core.stream is None and feed.closed
    assert bench.streaming is None and loaded.transport.source == "none"
    qtbot.waitUntil(lambda: second.state != "running" and job.state != "running", timeout=TIMEOUT)
    qtbot.wait(20)
    assert (job.state, second.state) == ("cancelled", "cancelled")
    assert bench.session.takes == [] and bench.current_take is None
    assert no_hooks(tiny_model) and not bar.cancel_action.isEnabled()
    assert not output.playing


def test_stream_off_plays_the_take_when_done(loaded, qtbot):  # noqa: F811
    bench, output, bar = loaded.bench, loaded.output, loaded.transport_bar
    bench.auto_render = False
    bar.stream_action.trigger()  # off
    assert not bench.settings.stream_playback
    bar.auto_play_action.trigger()  # every render plays
    assert bench.settings.auto_play
    bench.render()
    assert bench.streaming is None and not output.playing
    qtbot.waitUntil(lambda: output.playing, timeout=TIMEOUT)
    assert output.core.stream is None and loaded.transport.take is bench.current_take
    output.stop()
    from app.settings_dialog import SettingsDialog

    dialog = SettingsDialog(bench.settings, loaded)
    assert not dialog.stream.isChecked() and dialog.auto_play.isChecked()
    dialog.stream.setChecked(True)
    dialog.apply()
    bar.sync_settings()
    assert bench.settings.stream_playback and bar.stream_action.isChecked()
