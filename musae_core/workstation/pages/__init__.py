"""Shareable feature pages: a static, self-contained HTML site of features' evidence.

One page per feature plus an index; audio snippets and pictures are copied or drawn next to the
pages with relative links, so the folder opens from the file system and zips.
"""

from musae_core.workstation.pages.export import ExportReport, export_feature_pages
from musae_core.workstation.pages.select import select_features

__all__ = ["ExportReport", "export_feature_pages", "select_features"]
