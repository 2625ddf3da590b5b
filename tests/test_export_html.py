"""`musae export-html`: static feature pages from the shipped demo and a small test database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fixture_data import clip_wav, write_test_db

from musae_core.cli import main
from musae_core.errors import Cancelled, MusaeError
from musae_core.features.db import FeatureDB
from musae_core.jobs import CancelToken
from musae_core.workstation.pages import export_feature_pages, select_features
from musae_core.workstation.pages.select import parse_ids

DEMO_DB = Path(__file__).resolve().parents[1] / "resources" / "demo" / "features.db"
DEMO_FEATURE = 71  # shown "low register" (association); "dark" top-clip evidence too


def local_links(html: str, attribute: str) -> list[str]:
    return re.findall(rf'{attribute}="([^":#]+)"', html)


@pytest.fixture(scope="module")
def small_db(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pages-db")
    clips = [clip_wav(folder, i) for i in range(3)]
    path = write_test_db(folder / "features.db", "sae", clips)
    with FeatureDB.open(path) as db:
        db.set_steering(3, True, 0.91, {"label": "strings 3", "n_pairs": 8})
    return path


def test_demo_export_from_the_cli(tmp_path, capsys):
    with FeatureDB.open(DEMO_DB, readonly=True) as db:
        neighbour = db.neighbours(DEMO_FEATURE)[0][0]
    out = tmp_path / "site"
    ids = f"{DEMO_FEATURE},{neighbour}"
    args = ["export-html", "--db", str(DEMO_DB), "--features", ids, "--clips", "2"]
    assert main([*args, "--out", str(out)]) == 0
    assert "wrote 2 feature pages" in capsys.readouterr().out
    index = (out / "index.html").read_text()
    assert local_links(index, "href").count(f"feature-{DEMO_FEATURE}.html") == 1
    page = (out / f"feature-{DEMO_FEATURE}.html").read_text()
    sources = local_links(page, "src")
    audio = [s for s in sources if s.startswith("audio/")]
    assert len(audio) == 2 and all(s.endswith(".opus") for s in audio)
    for link in sources + local_links(page, "href"):
        assert (out / link).is_file(), link  # self-contained: every relative link resolves
    pngs = [s for s in sources if s.endswith(".png")]
    assert (out / pngs[0]).read_bytes().startswith(b"\x89PNG")
    assert "low register" in page and "AUROC 0.86" in page  # the classifier's top clips
    # the shown label comes first (from its own labeller: association over every clip) ...
    items = re.findall(r"<li>(.*?)</li>", page)
    assert "\u201clow register\u201d, from a tagger over every clip" in items[0]
    assert "AUROC 0.91 over every clip, 106 of 300 clips tagged" in items[0]
    # ... and a "lower" descriptor reads its AUROC the other way round
    (dark,) = [item for item in items if "\u201cdark\u201d" in item]
    assert dark.startswith("Strong evidence") and "darker than 93 % of random clips" in dark
    assert "AUROC 0.93" in dark
    assert f'href="feature-{neighbour}.html"' in page  # exported neighbour is linked
    assert "Steering was not evaluated" in page
    assert not (tmp_path / "site.tmp").exists()


def test_top_takes_the_best_label_scores_first():
    with FeatureDB.open(DEMO_DB, readonly=True) as db:
        top = select_features(db, top=4)
        scores = [db.feature(f).label_score for f in top]
    assert len(top) == 4 and scores == sorted(scores, reverse=True)


def test_selection_errors_and_ranges(small_db):
    assert parse_ids("3, 5-7,3") == [3, 5, 6, 7]
    with pytest.raises(MusaeError, match="Bad --features"):
        parse_ids("3,x")
    with FeatureDB.open(small_db, readonly=True) as db:
        assert select_features(db, labelled=True) == list(range(1, 48))
        with pytest.raises(MusaeError, match="valid ids are 0-47"):
            select_features(db, ids=[3, 999])


def test_steering_verdict_and_missing_audio_in_words(small_db, tmp_path):
    with FeatureDB.open(small_db, readonly=True) as db:
        report = export_feature_pages(db, [3, 6], tmp_path / "site")
    page = (tmp_path / "site" / "feature-3.html").read_text()
    assert "moves takes toward \u201cstrings 3\u201d over 8 paired takes" in page
    assert "d_z = 0.91" in page and "No before/after audio" in page
    assert 'href="feature-4.html"' not in page and "#4" in page  # not exported: no dead link
    assert report.pages == 2 and report.audio_files == 3
    assert "No cached audio" not in page
    assert "not evaluated" in (tmp_path / "site" / "feature-6.html").read_text()


def test_cancel_leaves_an_earlier_export_untouched(small_db, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    (out / "index.html").write_text("earlier export")
    token = CancelToken()

    def progress(done: int, total: int) -> None:
        token.cancel()

    with FeatureDB.open(small_db, readonly=True) as db, pytest.raises(Cancelled):
        export_feature_pages(db, [3, 4, 5], out, overwrite=True, progress=progress, cancel=token)
    assert (out / "index.html").read_text() == "earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_cli_refuses_an_existing_folder_and_unknown_ids(small_db, tmp_path, capsys):
    out = tmp_path / "site"
    out.mkdir()
    base = ["export-html", "--db", str(small_db), "--out", str(out)]
    assert main([*base, "--features", "3"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main([*base, "--features", "3", "--overwrite"]) == 0
    assert (out / "feature-3.html").is_file()
    assert main([*base, "--features", "500", "--overwrite"]) == 2
    assert "valid ids are 0-47" in capsys.readouterr().err
    assert (out / "feature-3.html").is_file()


def test_unwritable_folder_and_negative_clips_are_clear_errors(small_db, tmp_path, capsys):
    base = ["export-html", "--db", str(small_db), "--features", "3"]
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main([*base, "--out", str(blocker / "site")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([*base, "--clips", "-1", "--out", str(tmp_path / "site")]) == 2
    assert "--clips -1 is negative" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
