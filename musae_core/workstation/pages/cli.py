"""`musae export-html`: a feature database -> a static site of shareable feature pages."""

from __future__ import annotations

import argparse

from musae_core.cli_support import progress_bar


def cmd_export_html(args: argparse.Namespace) -> int:
    from musae_core.features.db import FeatureDB
    from musae_core.workstation.pages import export_feature_pages, select_features
    from musae_core.workstation.pages.select import parse_ids

    with FeatureDB.open(args.db, readonly=True) as db:
        ids = None if args.features is None else parse_ids(args.features)
        features = select_features(db, ids, args.top, args.all, args.labelled)
        update, bar = progress_bar("exporting pages", unit="page")
        try:
            report = export_feature_pages(
                db,
                features,
                args.out,
                overwrite=args.overwrite,
                clips=args.clips,
                progress=update,
                cancel=args.cancel,
            )
        finally:
            bar.close()
    print(report.summary())
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export-html",
        help="static HTML pages of features (opens from disk)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--db", required=True, help="feature database, e.g. FEATURES.db")
    p.add_argument("--out", required=True, help="folder to write (index.html + one page each)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--features", help="feature ids, e.g. 1,2,3 or 10-20")
    which.add_argument("--top", type=int, help="the N labelled features with the best label score")
    which.add_argument("--all", action="store_true", help="every feature")
    which.add_argument("--labelled", action="store_true", help="every labelled feature")
    p.add_argument("--clips", type=int, default=10, help="top clips shown per feature")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.set_defaults(func=cmd_export_html, kept="no pages were written")
