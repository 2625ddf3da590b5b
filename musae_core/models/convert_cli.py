"""``musae convert``: audiocraft MusicGen checkpoint <-> transformers folder, losslessly.

The direction follows from what ``--from`` holds: an audiocraft export (``state_dict.bin``) becomes
a transformers ``MusicgenForConditionalGeneration`` folder, a transformers folder (``config.json``)
becomes an audiocraft export. No audiocraft installation is needed.
"""

from __future__ import annotations

import argparse

from musae_core.models.convert_audiocraft import T5_DIMS, convert


def cmd_convert(args: argparse.Namespace) -> int:
    direction = convert(
        args.src,
        args.dst,
        base=args.base,
        t5_name=args.t5_name,
        allow_download=args.allow_download,
    )
    print(f"converted {args.src} -> {args.dst} ({direction})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser(
        "convert",
        help="convert an audiocraft MusicGen checkpoint <-> transformers",
        description=__doc__.splitlines()[0],
    )
    c.add_argument(
        "--from",
        dest="src",
        required=True,
        help="audiocraft export folder (state_dict.bin) or transformers folder",
    )
    c.add_argument("--to", dest="dst", required=True, help="new output folder")
    c.add_argument(
        "--base",
        default=None,
        help="audiocraft->transformers: a transformers MusicGen folder to take the T5 "
        "text encoder, tokenizer and codec from (default: by name from the cache)",
    )
    c.add_argument(
        "--t5-name",
        default=None,
        choices=sorted(T5_DIMS),
        help="transformers->audiocraft: the T5 name audiocraft should load "
        "(default: the text encoder's own name)",
    )
    c.add_argument(
        "--allow-download",
        action="store_true",
        help="fetch the named T5 / codec from the Hugging Face hub if not cached",
    )
    c.set_defaults(func=cmd_convert)
