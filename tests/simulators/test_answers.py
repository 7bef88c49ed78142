"""The checks on a language model's free-text answers (recoworld.simulators.answers)."""

from __future__ import annotations

import pytest

from recoworld.llm.prompts import load_prompt
from recoworld.simulators.answers import echoes_prompt, prompt_segments

REFLECT = prompt_segments(load_prompt("llm_user_reflect", "v1"))
INSTRUCT = prompt_segments(load_prompt("llm_user_instruct", "v1"))
DECIDE = prompt_segments(load_prompt("llm_user_decide", "v1"))


@pytest.mark.parametrize(
    ("answer", "segments"),
    [
        ('Your mindset so far: "I like jazz." Fine.', REFLECT),
        ("Mindset so far: I like jazz.", REFLECT),
        ("I liked it. Your mindset so far: bored.", REFLECT),
        ("I liked it.\nMindset so far: bored", REFLECT),
        ('"Your new mindset: calm jazz is lovely."', REFLECT),
        ("- **Mindset so far:** bored", REFLECT),
        ("What you want: less metal and more jazz.", INSTRUCT),
        ("Sure! What you want: less metal and more jazz.", INSTRUCT),
        ("Your mindset: bored. Less metal, please.", INSTRUCT),
        ("Item by item: 1 played, 2 skipped.", DECIDE),
    ],
)
def test_a_prompt_label_opening_the_answer_a_sentence_or_a_line_is_an_echo(answer, segments):
    assert echoes_prompt(answer, segments)


@pytest.mark.parametrize(
    ("answer", "segments"),
    [
        ("I know what you want: less metal and more jazz.", INSTRUCT),
        ("Here is what you want: less metal, more jazz.", INSTRUCT),
        ("I kept thinking about my mindset so far: still calm and curious.", REFLECT),
        ("The jazz was lovely, and I'd say my mindset so far: content.", REFLECT),
        ("I went through it item by item: the jazz was best.", DECIDE),
    ],
)
def test_a_prompt_label_inside_a_sentence_is_ordinary_speech(answer, segments):
    """A label inside a sentence is not an echo (it was before: any answer containing
    "what you want:" or "mindset so far:" was rejected)."""
    assert not echoes_prompt(answer, segments)
