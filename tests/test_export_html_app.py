"""File > Export feature pages… in the real window (offscreen): a job that writes the site."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from test_app_flow import TIMEOUT, window  # noqa: F401
from test_export_html import DEMO_DB, DEMO_FEATURE


def test_file_menu_exports_the_visible_features(
    window,  # noqa: F811
    qtbot,
    feature_db_path,
    tmp_path,
    monkeypatch,
):
    from app import export_pages

    opened = []
    monkeypatch.setattr(export_pages.QDesktopServices, "openUrl", opened.append)
    file_menu = window.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    assert texts.index(export_pages.ACTION_TEXT) == texts.index("Export take as WAV…") + 1
    window.bench.open_feature_db(feature_db_path, offline=True)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 48, timeout=TIMEOUT)
    window.browser.search.setText("piano")
    qtbot.waitUntil(lambda: 0 < window.browser.proxy.rowCount() < 48, timeout=TIMEOUT)
    features = export_pages.visible_features(window)
    job = export_pages.export_pages(window, features, tmp_path / "pages")
    qtbot.waitUntil(lambda: job.state == "done", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: bool(opened), timeout=TIMEOUT)
    written = sorted(p.name for p in (tmp_path / "pages").glob("feature-*.html"))
    assert written == sorted(f"feature-{f}.html" for f in features)
    assert opened[0].toLocalFile() == str(tmp_path / "pages" / "index.html")
    assert job.done_steps == job.total_steps == len(features) + 1


def test_export_without_a_database_says_what_to_do(window, qtbot, tmp_path, monkeypatch):  # noqa: F811
    from app import export_pages

    shown = []
    monkeypatch.setattr(export_pages, "show_error", lambda _w, problem, fix: shown.append(fix))
    assert export_pages.export_pages(window, [1], tmp_path / "pages") is None
    assert "Open feature database" in shown[0] and not (tmp_path / "pages").exists()


def test_shipped_demo_exports_from_the_app(window, qtbot, tmp_path, monkeypatch):  # noqa: F811
    from app import export_pages

    monkeypatch.setattr(export_pages.QDesktopServices, "openUrl", lambda url: None)
    window.bench.open_feature_db(DEMO_DB, offline=True)
    qtbot.waitUntil(lambda: window.browser.model.rowCount() == 3072, timeout=TIMEOUT)
    job = export_pages.export_pages(window, [DEMO_FEATURE], tmp_path / "pages")
    qtbot.waitUntil(lambda: job.state == "done", timeout=TIMEOUT)
    page = (tmp_path / "pages" / f"feature-{DEMO_FEATURE}.html").read_text()
    clips = len(window.bench.session.db.top_clips(DEMO_FEATURE))
    assert clips > 0 and page.count("<audio") == clips and "\u201cdark\u201d" in page
