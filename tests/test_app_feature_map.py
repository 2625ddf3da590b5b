"""The feature map dock (issue 19, section 3), driven through the real window."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from fixture_data import N_FEATURES
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QApplication
from test_app_flow import TIMEOUT, wait_job, window  # noqa: F401

from app.feature_map import GREYED, points_in_polygon
from musae_core.features import FeatureDB
from musae_core.features.layout import FeatureLayout, save_layout

COLS = 8  # features on a grid: feature i at column i % 8, row i // 8


def grid_xy() -> np.ndarray:
    i = np.arange(N_FEATURES)
    xy = np.stack([i % COLS, i // COLS], axis=1).astype(np.float32)
    return (xy - xy.mean(axis=0)) / 8.0


@pytest.fixture
def mapped(window, qtbot, tmp_path, feature_db_path):  # noqa: F811
    """The test DB (48 features) with a cached grid layout, opened offline."""
    path = tmp_path / "features.db"
    shutil.copy(feature_db_path, path)
    with FeatureDB.open(path) as db:
        save_layout(db, FeatureLayout(grid_xy(), "grid-sae", "pca"))
    window.resize(1400, 900)
    window.docks["map"].raise_()
    window.bench.open_feature_db(path, offline=True)
    panel = window.feature_map
    qtbot.waitUntil(lambda: panel.layout_ is not None and bool(panel.rows), timeout=TIMEOUT)
    qtbot.wait(50)
    return window


def viewport_pos(panel, feature: int) -> QPoint:
    x, y = panel.layout_.xy[feature]
    scene = panel.view.mapViewToScene(QPointF(float(x), float(y)))
    return panel.plot.mapFromScene(scene)


def mouse(widget, kind, pos: QPoint, button) -> None:
    """A real mouse event with the left button held (QTest moves carry no buttons)."""
    held = Qt.NoButton if kind == QEvent.MouseButtonRelease else Qt.LeftButton
    local = QPointF(pos)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(pos)), button, held, Qt.NoModifier)
    QApplication.sendEvent(widget, event)
    QApplication.processEvents()


def test_hover_names_the_feature_under_the_pointer(mapped, qtbot):
    panel = mapped.feature_map
    label = mapped.bench.session.db.feature(13).best_label
    qtbot.mouseMove(panel.plot.viewport(), viewport_pos(panel, 13))
    qtbot.waitUntil(lambda: panel.hovered == 13, timeout=TIMEOUT)
    assert panel.hover_text == f"#13 {label}"
    far = panel.view.mapViewToScene(QPointF(5.0, 5.0))  # empty space: nothing named
    panel.hover_at_scene(far)
    assert panel.hovered is None and panel.hover_text == ""


def test_colour_by_steers_says_how_to_measure_when_nothing_is(mapped, qtbot):
    """On the demo every point was grey 'not measured', with no word on what measures it."""
    panel = mapped.feature_map
    panel.colour_by.setCurrentText("steers")
    measured = any(getattr(r, "steers", None) is not None for r in panel.rows.values())
    assert not measured  # the test database has no steering verdicts
    assert "musae eval-steering --db DB --all" in panel.legend.text()
    panel.colour_by.setCurrentText("label")
    assert "eval-steering" not in panel.legend.text()


def test_click_selects_in_browser_and_inspector(mapped, qtbot):
    panel = mapped.feature_map
    qtbot.mouseClick(panel.plot.viewport(), Qt.LeftButton, pos=viewport_pos(panel, 21))
    inspector = mapped.inspector
    qtbot.waitUntil(
        lambda: inspector.record is not None and inspector.record.id == 21, timeout=TIMEOUT
    )
    wait_job(qtbot, mapped.bench, "inspect")
    assert mapped.bench.selected_feature == 21
    assert mapped.browser.table.currentIndex().data(Qt.UserRole).id == 21


def test_lasso_filters_the_browser_to_exactly_the_points_inside(mapped, qtbot):
    panel, browser = mapped.feature_map, mapped.browser
    xy = panel.layout_.xy
    # a triangle over the lower left of the grid (x -0.44..0.44, y -0.31..0.31), dragged out
    corners = np.array([[-0.33, -0.27], [0.22, -0.27], [-0.33, 0.2]], dtype=np.float32)
    inside = set(np.flatnonzero(points_in_polygon(xy, corners)).tolist())
    assert 3 < len(inside) < N_FEATURES - 3
    panel.lasso_button.setChecked(True)
    viewport = panel.plot.viewport()
    points = [panel.plot.mapFromScene(panel.view.mapViewToScene(QPointF(*c))) for c in corners]
    mouse(viewport, QEvent.MouseButtonPress, points[0], Qt.LeftButton)
    for a, b in zip(points, points[1:] + points[:1], strict=True):
        for t in np.linspace(0.0, 1.0, 8):
            mouse(viewport, QEvent.MouseMove, a + (b - a) * float(t), Qt.NoButton)
            qtbot.wait(12)  # pyqtgraph drops moves closer than 10 ms apart
    mouse(viewport, QEvent.MouseButtonRelease, points[0], Qt.LeftButton)
    qtbot.waitUntil(lambda: panel.lassoed is not None, timeout=TIMEOUT)
    shown = {browser.row_at(r).id for r in range(browser.proxy.rowCount())}
    dead = {r.id for r in browser.model.rows if r.dead}  # the browser still hides dead ones
    assert shown == set(panel.lassoed.tolist()) - dead
    # the drawn path has the pixel rounding of real mouse events: it matches the triangle
    assert len(set(panel.lassoed.tolist()) ^ inside) <= 1
    panel.clear_button.click()
    assert browser.proxy.rowCount() == N_FEATURES - len(dead)


def test_browser_filter_greys_out_the_rest_of_the_map(mapped, qtbot):
    panel, browser = mapped.feature_map, mapped.browser
    qtbot.keyClicks(browser.search, "piano")
    qtbot.waitUntil(lambda: browser.proxy.db_matches is not None, timeout=TIMEOUT)
    qtbot.wait(20)
    shown = {browser.row_at(r).id for r in range(browser.proxy.rowCount())}
    assert 0 < len(shown) < N_FEATURES
    brushes = panel.scatter.data["brush"]
    grey = QColor(GREYED).rgb()
    order = panel.draw_order.tolist()  # scatter point k is feature order[k]
    greyed = [brushes[k].color().rgb() == grey for k in range(N_FEATURES)]
    assert {order[k] for k in range(N_FEATURES) if greyed[k]} == set(range(N_FEATURES)) - shown
    assert greyed == sorted(greyed, reverse=True)  # greyed drawn first, kept points on top


def test_the_map_asks_for_the_sae_when_nothing_is_cached(window, qtbot, feature_db_path):  # noqa: F811
    window.bench.open_feature_db(feature_db_path, offline=True)
    qtbot.waitUntil(lambda: "musae map" in window.feature_map.status.text(), timeout=TIMEOUT)
    assert window.feature_map.layout_ is None
    assert not window.feature_map.compute_button.isEnabled()


def test_compute_map_caches_the_layout_of_the_loaded_sae(
    window,  # noqa: F811
    qtbot,
    tmp_path,
    monkeypatch,
    feature_db_path,
    tiny_sae_dir,
):
    import app.feature_map as feature_map
    from musae_core.features.layout import decoder_hash, decoder_rows, load_layout

    monkeypatch.setattr(feature_map, "LAYOUT_METHOD", "pca")  # UMAP's numba warm-up is slow
    path = tmp_path / "features.db"
    shutil.copy(feature_db_path, path)
    bench, panel = window.bench, window.feature_map
    bench.open_feature_db(path, offline=True)
    wait_job(qtbot, bench, "db")
    bench.open_sae(tiny_sae_dir)
    qtbot.waitUntil(lambda: panel.compute_button.isEnabled(), timeout=TIMEOUT)
    wait_job(qtbot, bench, "map")
    assert panel.layout_ is None  # nothing cached for this SAE yet
    panel.compute_button.click()
    qtbot.waitUntil(lambda: panel.layout_ is not None, timeout=TIMEOUT)
    sae_hash = decoder_hash(decoder_rows(bench.session.sae))
    assert panel.layout_.sae_hash == sae_hash and panel.layout_.count == N_FEATURES
    with FeatureDB.open(path, readonly=True) as db:
        np.testing.assert_array_equal(load_layout(db, sae_hash).xy, panel.layout_.xy)
