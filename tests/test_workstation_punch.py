"""Headless punch-in on a session: a new take derived from its parent, the audio before the
point kept, the recipe in the sidecar; a live knob change while the steered take streams."""

from __future__ import annotations

import json

import numpy as np
from test_workstation_streaming import MASTER, MIXER, make_session

from musae_core.punch import render_recipe
from musae_core.workstation.punch import change_live, punch_take


def test_punch_take_keeps_the_parent_before_the_point(tiny_model, tiny_sae_dir, tmp_path):
    session = make_session(tiny_model, tiny_sae_dir)
    parent = session.render(MASTER, MIXER)
    louder = MIXER.update(4, strength=-6.0)
    take = punch_take(session, parent, 1.0, louder)
    assert take.parent_id == parent.take_id and take.punch_seconds == 1.0
    assert session.takes[-1] is take and "punched into take" in take.name()
    np.testing.assert_array_equal(take.steered[:, :32_000], parent.steered[:, :32_000])
    assert not np.array_equal(take.steered[:, 33_000:], parent.steered[:, 33_000:])
    again = render_recipe(tiny_model, take.recipe)
    np.testing.assert_array_equal(again.audio[0], take.steered)
    _, sidecar = session.export(take, tmp_path / "punch.wav")
    recipe = json.loads(sidecar.read_text())["recipe"]
    assert [s["from_seconds"] for s in recipe["segments"]] == [0.0, 1.0]
    assert recipe["segments"][1]["mixer"]["channels"][0]["strength"] == -6.0


def test_live_change_while_streaming_records_a_punch_point(tiny_model, tiny_sae_dir):
    session = make_session(tiny_model, tiny_sae_dir)
    changed = []

    def on_chunk(chunk) -> None:
        if not changed:
            changed.append(change_live(session, MIXER.update(4, strength=-6.0), MASTER))

    take = session.render(MASTER, MIXER, on_chunk=on_chunk)
    plain = make_session(tiny_model, tiny_sae_dir).render(MASTER, MIXER)
    assert changed == [True] and session.live is None
    assert take.punch_seconds is not None and 0 < take.punch_seconds < MASTER.duration
    assert len(take.metadata["recipe"]["segments"]) == 2
    assert not np.array_equal(take.steered, plain.steered)
    assert change_live(session, MIXER, MASTER) is False  # nothing streams now
