"""The exported demo pages in a real headless Chromium: they load without console messages
(the pages carry no script, so any is an error), every audio element has a source that exists,
and the page renders to a screenshot. Skipped where Debian's ``chromium`` is not installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_export_html import DEMO_DB, DEMO_FEATURE

from musae_core.features.db import FeatureDB
from musae_core.workstation.pages import export_feature_pages

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]


def chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "site"
    with FeatureDB.open(DEMO_DB, readonly=True) as db:
        export_feature_pages(db, [DEMO_FEATURE], out, clips=3)
    return out


@pytest.mark.parametrize("page", ["index.html", f"feature-{DEMO_FEATURE}.html"])
def test_page_loads_without_console_messages(site, page):
    result = chromium("--dump-dom", (site / page).as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [] and "Uncaught" not in result.stderr
    assert "</html>" in result.stdout or "</body>" in result.stdout
    sources = re.findall(r'<audio[^>]*src="([^"]+)"', result.stdout)
    images = re.findall(r'<img[^>]*src="([^"]+)"', result.stdout)
    if page != "index.html":
        assert len(sources) == 3 and len(images) == 3
    for src in sources + images:
        assert (site / src).is_file(), src


def test_feature_page_screenshot(site, tmp_path):
    shot = tmp_path / "feature-page.png"
    page = (site / f"feature-{DEMO_FEATURE}.html").as_uri()
    result = chromium(f"--screenshot={shot}", "--window-size=1280,1600", page)
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
