"""Issue 17: a concept's feature group shown in the app (inspector box, browser filter, mixer)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from test_app_flow import TIMEOUT, wait_job, window  # noqa: F401

from musae_core.features import FeatureDB
from musae_core.features.concept_groups import ConceptGroup, write_concept_groups
from musae_core.workstation.concepts import NO_GROUPS, feature_concepts, group_sentence

SHIPPED = Path(__file__).resolve().parents[1] / "resources" / "demo" / "features.db"
GROUPS = [
    ConceptGroup("drums=true", [3, 7, 5], "demo-scorecard", 0.82, 0.91, 0.66, True),
    ConceptGroup("register=low", [7, 11, 0], "demo-scorecard", 0.7, 0.95, 0.6, True),
    # the absence concept: feature 3 read inverted (the concept is where it is silent)
    ConceptGroup("drums=false", [3], "demo-scorecard", 0.99, 0.94, 0.68, True, directions=[-1]),
]


@pytest.fixture
def grouped_db(tmp_path, feature_db_path):
    """The test SAE's feature DB with two written groups (7 is in both; 0 is dead)."""
    path = tmp_path / "grouped.db"
    shutil.copy(feature_db_path, path)
    with FeatureDB.open(path) as db:
        write_concept_groups(db, GROUPS, "demo-scorecard")
    return path


@pytest.fixture
def old_db(tmp_path):
    """The shipped DB as schema 1: no concept_groups table."""
    path = tmp_path / "old.db"
    shutil.copy(SHIPPED, path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE concept_groups")
        conn.execute("PRAGMA user_version = 1")
    return path


def test_feature_concepts_name_groups_members_and_no_table(grouped_db, old_db):
    with FeatureDB.open(grouped_db, readonly=True) as db:
        seven = feature_concepts(db, 7)
        assert [name for name, _ in seven.groups] == ["drums on", "register low"]
        assert list(seven.concepts) == ["drums off", "drums on", "register low"]
        assert seven.stored
        assert set(seven.labels) == {0, 3, 5, 7, 11}
        none = feature_concepts(db, 1)
        assert none.groups == [] and none.stored
    sentence = group_sentence("drums on", GROUPS[0])
    assert sentence == (
        "drums on: 3 features together reach F1 0.82 of the layer's 0.91 "
        "(best single feature AUROC 0.66)"
    )
    with FeatureDB.open(old_db, readonly=True) as db:
        assert not feature_concepts(db, 75).stored


def open_db(qtbot, window, path, offline=True):  # noqa: F811
    window.bench.open_feature_db(path, offline=offline)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() > 0, timeout=TIMEOUT)
    wait_job(qtbot, window.bench, "concepts")


def inspect(qtbot, window, feature: int):  # noqa: F811
    window.bench.select_feature(feature)
    qtbot.waitUntil(
        lambda: window.inspector.record is not None and window.inspector.record.id == feature,
        timeout=TIMEOUT,
    )
    wait_job(qtbot, window.bench, "inspect")
    return window.inspector.concepts


def shown_ids(browser) -> list[int]:
    return [browser.row_at(r).id for r in range(browser.proxy.rowCount())]


def test_box_lists_groups_and_chips_select_in_browser_and_inspector(window, qtbot, grouped_db):  # noqa: F811
    open_db(qtbot, window, grouped_db)
    box = inspect(qtbot, window, 7)
    assert [row.sentence.text().split(":")[0] for row in box.rows] == ["drums on", "register low"]
    assert "F1 0.82 of the layer's 0.91" in box.rows[0].sentence.text()
    assert "turn down" not in box.rows[0].members.text()
    assert 'href="3"' in box.rows[0].members.text() and 'href="7"' not in box.rows[0].members.text()
    box = inspect(qtbot, window, 3)  # in drums=true as it fires, in drums=false inverted
    chips = {row.sentence.text().split(":")[0]: row.members.text() for row in box.rows}
    assert "(turn down)" in chips["drums off"] and "(turn down)" not in chips["drums on"]
    box.rows[0].members.linkActivated.emit("5")  # click the chip "#5"
    box = inspect(qtbot, window, 5)
    assert window.bench.selected_feature == 5
    assert window.browser.table.currentIndex().data(Qt.UserRole).id == 5
    assert [row.sentence.text().split(":")[0] for row in box.rows] == ["drums on"]
    box = inspect(qtbot, window, 1)
    assert box.rows == [] and "in no concept group" in box.note.text()


def test_concept_filter_shows_exactly_the_group_in_order(window, qtbot, grouped_db):  # noqa: F811
    open_db(qtbot, window, grouped_db)
    browser = window.browser
    everything = browser.proxy.rowCount()
    assert [browser.concept.itemText(i) for i in range(browser.concept.count())] == [
        "All concepts",
        "drums off",
        "drums on",
        "register low",
    ]
    browser.concept.setCurrentText("drums off")
    assert shown_ids(browser) == [3]
    assert "#3: the concept is where it is silent, turn it down" in browser.count.text()
    browser.concept.setCurrentText("drums on")
    assert shown_ids(browser) == [3, 7, 5]  # group order, not id order
    browser.table.sortByColumn(
        5, Qt.DescendingOrder
    )  # a header click keeps the group's members only
    assert sorted(shown_ids(browser)) == [3, 5, 7]
    browser.concept.setCurrentText("register low")  # 0 is dead, yet part of the group
    assert browser.checks["hide_dead"].isChecked() and not browser.checks["hide_dead"].isEnabled()
    assert shown_ids(browser) == [7, 11, 0]
    browser.concept.setCurrentText("All concepts")
    assert browser.proxy.rowCount() == everything
    assert browser.table.horizontalHeader().sortIndicatorSection() == 1


def test_add_group_adds_every_member_in_one_undo_step(
    window,  # noqa: F811
    qtbot,
    tiny_model,
    tiny_sae_dir,
    grouped_db,
):
    bench = window.bench
    bench.session.model = tiny_model
    bench.auto_render = False
    bench.open_sae(tiny_sae_dir)
    wait_job(qtbot, bench, "sae")
    open_db(qtbot, window, grouped_db, offline=False)
    bench.add_feature(5)
    box = inspect(qtbot, window, 7)
    assert box.rows[0].add.isEnabled()
    box.rows[0].add.click()
    assert bench.mixer.features() == [5, 3, 7]  # 5 was there already: one strip per feature
    assert all(c.label for c in bench.mixer.channels)  # each strip with its label
    assert list(window.mixer.strips) == [5, 3, 7]  # the mixer shows a strip for each
    assert bench.undo() and bench.mixer.features() == [5]  # one undo step
    assert list(window.mixer.strips) == [5]


def test_shipped_demo_db_groups(window, qtbot):  # noqa: F811
    open_db(qtbot, window, SHIPPED)
    with sqlite3.connect(SHIPPED) as conn:
        groups = conn.execute("SELECT concept, feature_id FROM concept_groups").fetchall()
        low = [
            j
            for (j,) in conn.execute(
                "SELECT feature_id FROM concept_groups WHERE concept = 'register=low' ORDER BY rank"
            )
        ]
        outside = conn.execute(
            "SELECT MIN(id) FROM features WHERE id NOT IN (SELECT feature_id FROM concept_groups)"
        ).fetchone()[0]
    # the shipped Matryoshka SAE: 168 reads both low register and piano (two of the 9 groups)
    assert {c for c, j in groups if j == 168} == {"instrument=piano", "register=low"}  # stored
    box = inspect(qtbot, window, 168)
    names = [row.sentence.text().split(":")[0] for row in box.rows]
    assert sorted(names) == ["instrument piano", "register low"]
    box = inspect(qtbot, window, outside)
    assert box.rows == [] and "9 concepts" in box.note.text()
    window.browser.concept.setCurrentText("register low")
    assert shown_ids(window.browser) == low and len(low) == 7


def test_older_database_says_how_to_make_groups(window, qtbot, old_db):  # noqa: F811
    open_db(qtbot, window, old_db)
    box = inspect(qtbot, window, 75)
    assert box.rows == [] and box.note.text() == NO_GROUPS and box.note.isVisible()
    assert not window.browser.concept.isEnabled()
