"""Browser and inspector defects of issue 18 (section 4), driven through the real window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from test_app_flow import TIMEOUT, wait_job, window  # noqa: F401

DEMO_LABELS = [
    "drums",
    "no drums",
    "loud",
    "medium tempo",
    "compressed dynamics",
    "dark",
    "dynamic",
    "low register",
    "synth lead",
    "piano",
]


@pytest.fixture(scope="module")
def demo_like_db(tmp_path_factory):
    """24 features labelled like the demo: 'no drums' beside 'drums', long labels, top clips
    ranked from 1 (as ``analyze`` writes them) with real audio snippets."""
    from musae_core.audio.io import write_wav
    from musae_core.features import FeatureDB, FeatureStats, TopClip

    folder = tmp_path_factory.mktemp("demo-like")
    db = FeatureDB.create(folder / "features.db", {"model_id": "tiny", "sample_rate": 32000})
    db.write_features([
        FeatureStats(id=i, frequency=0.01, clip_rate=0.1 + 0.01 * i, max_activation=2.0 + i,
                     mean_activation=0.5, histogram=([0.0, 1.0, 2.0], [3, 1]))
        for i in range(24)
    ])  # fmt: skip
    for i in range(24):
        text = DEMO_LABELS[i % len(DEMO_LABELS)]
        db.add_label(
            i,
            "classifier",
            text,
            0.3 + 0.02 * i,
            {
                "auroc": 0.9,
                "class": text,
                "mean_top": 0.8,
                "mean_baseline": 0.2,
                "p_value": 0.001,
                "model": "demo-factors",
            },
        )
    # 'dark' and 'dynamic' with a strong score and a weak secondary 'drums' label
    for i in (5, 6):
        db.add_label(i, "classifier", "drums", 0.01, {"auroc": 0.55, "class": "drums"})
    rate = 32000
    t = np.arange(rate) / rate
    clips = []
    for r in range(1, 4):
        audio = (0.3 * np.sin(2 * np.pi * 220 * r * t)).astype(np.float32)
        path = write_wav(folder / f"clip{r}.wav", audio, rate)
        clips.append(
            TopClip(
                rank=r,
                source_path=f"/corpus/song{r}.flac",
                clip_start=2.0 * r,
                clip_seconds=1.0,
                mean_activation=1.0 / r,
                peak_activation=2.0 / r,
                timeline=list(np.linspace(0, 1, 50)),
                frame_rate=50.0,
                best_window=(0.2, 0.4),
                snippet_path=Path(path),
            )
        )
    for i in range(24):
        db.write_top_clips(i, "mean", clips)
        db.write_neighbours(i, [((i + 1) % 24, 0.8)])
    db.close()
    return folder / "features.db"


@pytest.fixture
def opened(window, qtbot, demo_like_db):  # noqa: F811
    window.resize(1600, 900)
    window.bench.open_feature_db(demo_like_db, offline=True)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 24, timeout=TIMEOUT)
    return window


def shown(browser) -> list:
    return [browser.row_at(r) for r in range(browser.proxy.rowCount())]


def search(qtbot, win, text: str) -> None:
    browser = win.browser
    browser.search.clear()
    qtbot.keyClicks(browser.search, text)
    qtbot.waitUntil(lambda: browser.proxy.db_matches is not None, timeout=TIMEOUT)


def test_search_skips_negated_labels_and_ranks_exact_labels_first(opened, qtbot):
    browser = opened.browser
    search(qtbot, opened, "drums")
    rows = shown(browser)
    labels = [row.best_label for row in rows]
    assert "no drums" not in labels
    assert {row.id for row in rows} == {0, 10, 20, 5, 6}
    assert labels[:3] == ["drums"] * 3  # exact labels first, then 'dark'/'dynamic' (secondary)
    assert browser.proxy.index(3, 3).data() == "drums"  # found by its other label
    search(qtbot, opened, "no drums")
    assert {row.best_label for row in shown(browser)} == {"no drums"}
    browser.search.clear()
    assert browser.table.isColumnHidden(3) and browser.proxy.rowCount() == 24
    assert browser.table.horizontalHeader().sortIndicatorSection() == 1  # sort by id restored


def test_a_search_keeps_its_matches_when_the_database_is_opened_again(opened, qtbot):
    """The walk's 'piano' read 218 features, then 58 after the project was reopened: only the
    label matches were re-applied, not the database's own (other labels, descriptions)."""
    browser = opened.browser
    search(qtbot, opened, "drums")
    before = {row.id for row in shown(browser)}
    assert before == {0, 10, 20, 5, 6}
    opened.bench.open_feature_db(browser.bench.session.db.path, offline=True)
    qtbot.waitUntil(lambda: {row.id for row in shown(browser)} == before, timeout=TIMEOUT)
    qtbot.wait(400)  # past the search debounce: it stays so
    assert {row.id for row in shown(browser)} == before
    assert browser.search.text() == "drums"


def test_a_search_with_no_match_says_what_to_try(opened, qtbot):
    browser = opened.browser
    search(qtbot, opened, "xyzzy")
    assert browser.proxy.rowCount() == 0
    assert "nothing matches “xyzzy”" in browser.count.text()
    search(qtbot, opened, "drums")
    assert "nothing matches" not in browser.count.text()


def test_typing_a_search_never_moves_the_inspector(opened, qtbot):
    browser, bench = opened.browser, opened.bench
    browser.table.selectRow(2)  # the user clicks feature 2 ('loud')
    qtbot.waitUntil(lambda: opened.inspector.record is not None, timeout=TIMEOUT)
    assert bench.selected_feature == 2
    selected = []
    bench.featureSelected.connect(selected.append)
    search(qtbot, opened, "piano")  # feature 2 is filtered out
    wait_job(qtbot, bench, "inspect")
    assert bench.selected_feature == 2 and opened.inspector.record.id == 2 and selected == []
    assert not browser.table.selectionModel().hasSelection()
    browser.search.clear()  # back in view: selected again, still no new selection
    assert browser.table.currentIndex().data(Qt.UserRole).id == 2 and selected == []
    browser.checks["hide_dead"].setChecked(False)
    browser.table.sortByColumn(5, Qt.DescendingOrder)
    assert bench.selected_feature == 2 and selected == []


def test_columns_show_whole_at_1600_px(opened, qtbot):
    browser = opened.browser
    qtbot.wait(50)
    table = browser.table
    assert opened.width() == 1600
    assert table.horizontalScrollBar().maximum() == 0  # no sideways scrolling
    metrics, header = table.fontMetrics(), table.horizontalHeader()
    for column in range(header.count()):
        if table.isColumnHidden(column):
            continue
        title = browser.model.headerData(column, 1)
        assert table.columnWidth(column) >= header.fontMetrics().horizontalAdvance(title) + 8
        for row in range(browser.proxy.rowCount()):
            text = browser.proxy.index(row, column).data() or ""
            assert table.columnWidth(column) >= metrics.horizontalAdvance(str(text)) + 6, text
    search(qtbot, opened, "drums")  # the Match column appears: still no sideways scrolling
    qtbot.wait(50)
    assert table.horizontalScrollBar().maximum() == 0


def inspect(qtbot, window, feature: int):  # noqa: F811
    window.bench.select_feature(feature)
    qtbot.waitUntil(
        lambda: window.inspector.record is not None and window.inspector.record.id == feature,
        timeout=TIMEOUT,
    )
    wait_job(qtbot, window.bench, "inspect")
    return window.inspector


def test_evidence_reads_as_a_sentence_with_raw_numbers_one_click_away(opened, qtbot):
    inspector = inspect(qtbot, opened, 2)
    evidence = inspector.labels.item(0, 4)
    assert evidence.text() == (
        "Top clips sound more like “loud” than 90 % of random clips to the demo-factors "
        "classifier (AUROC 0.90, mean 0.80 vs 0.20, p = 0.001)"
    )
    assert "{" not in evidence.text() and "{" not in evidence.toolTip()
    # one line per label in the table; the selected label's sentence is shown whole below it
    assert inspector.labels.rowHeight(0) < 2 * inspector.labels.fontMetrics().height() + 12
    assert inspector.evidence.isVisible() and evidence.text() in inspector.evidence.text()
    assert inspector.evidence.text().startswith("“loud” (classifier): ")
    assert not inspector.raw.isVisible()
    inspector.raw_toggle.click()
    assert inspector.raw.isVisible() and '"auroc": 0.9' in inspector.raw.toPlainText()
    assert inspector.labels.item(0, 3).text() == "" and inspector.clap_note.isVisible()
    assert "validate" in inspector.clap_note.toolTip()
    assert "validate" in inspector.labels.item(0, 3).toolTip()
    assert "freq" in inspector.header.toolTip() and "cos" in inspector.neighbours.toolTip()


def test_top_clips_numbered_as_ranked_and_two_whole_clips_visible(opened, qtbot):
    inspector = inspect(qtbot, opened, 3)
    rows = inspector.clip_widgets
    captions = [row.findChildren(QLabel)[0].text() for row in rows]
    assert [text.split()[0] for text in captions] == ["#1", "#2", "#3"]  # DB ranks 1-3
    assert captions[0].startswith("#1  song1.flac")
    assert all(row.play.isEnabled() and row.strip.image is not None for row in rows)
    qtbot.wait(50)
    viewport = inspector.clips_scroll.viewport().height()
    assert viewport >= 2 * rows[0].sizeHint().height()


def test_playing_a_clip_moves_its_own_playhead_not_the_arrangements(opened, qtbot):
    inspector = inspect(qtbot, opened, 4)
    transport, arrangement = opened.transport, opened.arrangement
    before, line_before = transport.playhead, arrangement.playheads[0].value()
    rows = inspector.clip_widgets
    rows[1].play.click()
    qtbot.waitUntil(lambda: opened.output.position_seconds() > 0.2, timeout=TIMEOUT)
    qtbot.wait(100)  # a few 30 Hz playhead updates
    assert transport.playhead == before and arrangement.playheads[0].value() == line_before
    qtbot.waitUntil(lambda: (rows[1].strip.playhead or 0.0) > 0.1, timeout=TIMEOUT)
    assert rows[0].strip.playhead is None and rows[2].strip.playhead is None
    rows[1].play.click()  # the same button stops it; the row's playhead goes away
    qtbot.waitUntil(lambda: rows[1].strip.playhead is None, timeout=TIMEOUT)
    assert not opened.output.playing and transport.playhead == before
