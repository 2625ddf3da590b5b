"""Drop transformers' one false alarm about MusicGen configs, and nothing else.

MusicGen's pad/bos token is ``vocab_size`` (its decoder embeddings have ``vocab_size + 1`` rows,
and transformers' own ``MusicgenDecoderConfig`` accepts it), but the composite
``MusicgenConfig`` checks the decoder's special tokens with the generic ``< vocab_size`` rule
and warns about pad_token_id and bos_token_id on every MusicGen musae builds or loads (tiny,
demo, facebook/musicgen-*). The filter drops exactly that message: a special token equal to
the vocabulary size; any other out-of-range token id still warns.
"""

from __future__ import annotations

import logging
import re

# the logger of transformers' generic PreTrainedConfig.validate_token_ids
CONFIG_LOGGER = "transformers.configuration_utils"
_FALSE_ALARM = re.compile(
    r"Model config: (pad|bos|decoder_start)_token_id must be `None` or an integer within the "
    r"vocabulary \(between 0 and (\d+)\), got (\d+)\."
)


class MusicgenSpecialTokenFilter(logging.Filter):
    """Refuses the record when a pad/bos token id equals the vocabulary size."""

    def filter(self, record: logging.LogRecord) -> bool:
        match = _FALSE_ALARM.match(record.getMessage())
        return not (match and int(match.group(3)) == int(match.group(2)) + 1)


def quiet_musicgen_config_check() -> None:
    """Install the filter once on the logger that emits the false alarm (idempotent)."""
    logger = logging.getLogger(CONFIG_LOGGER)
    if not any(isinstance(f, MusicgenSpecialTokenFilter) for f in logger.filters):
        logger.addFilter(MusicgenSpecialTokenFilter())
