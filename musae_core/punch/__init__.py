"""Punch-in: re-render a take from a point on with new steering, keeping everything before it.

``schedule`` holds per-segment steering (switched at decoder positions; sampling is one stream
seeded by the request) and the loop that teacher-forces a kept prefix; ``takes`` makes a
punch-in take from a parent (tokens before the point fixed, audio before the point spliced in
unchanged) and its recipe; ``sidecar`` reads recipes back from JSON; ``live`` streams a take
whose steering can change at the next chunk boundary; ``cli`` is ``generate --continue``.
"""

from musae_core.punch.schedule import Segment, SteeringSchedule, decode_segments
from musae_core.punch.takes import Recipe, punch_in, render_recipe, splice

__all__ = [
    "Recipe",
    "Segment",
    "SteeringSchedule",
    "decode_segments",
    "punch_in",
    "render_recipe",
    "splice",
]
