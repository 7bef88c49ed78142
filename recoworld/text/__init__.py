"""Text used by simulated users and agents alike: encoders that turn sentences into vectors, word
splitting, utterance cleaning and attribute-name matching."""

from recoworld.text.encoders import HashingTextEncoder, TextEncoder, check_text_encoder, words
from recoworld.text.matching import RECOCHAT_CHARSET, AttributeMatcher, clean_utterance

__all__ = [
    "RECOCHAT_CHARSET",
    "AttributeMatcher",
    "HashingTextEncoder",
    "TextEncoder",
    "check_text_encoder",
    "clean_utterance",
    "words",
]
