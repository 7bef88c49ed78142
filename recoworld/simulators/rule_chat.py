"""The rule-based conversational user of ``RecoChat-v0``: the binary-attribute protocol of
``ConvRec-v0`` in templated words (no language model needed)."""

from __future__ import annotations

from collections.abc import Sequence

from recoworld.catalog import Catalog
from recoworld.simulators.ailo import UserReply
from recoworld.text.matching import AttributeMatcher

__all__ = ["RuleChatUser"]


class RuleChatUser:
    """The rule-based user of ``RecoChat-v0``: the binary-attribute protocol in templated words.

    It has a target item and opens by naming one of its attributes. Each turn:

    * a turn that recommends items is answered as a recommendation: accepted iff the target is
      among them ("Yes! <title> is exactly what I was looking for."), otherwise rejected ("No,
      none of these is what I'm looking for."); attribute names in such a turn are not taken as
      questions;
    * otherwise the user answers about the first attribute named in the utterance
      (:class:`AttributeMatcher`) that it has not answered yet, one per turn as in
      ``ConvRec-v0``: "Yes, I'd like <name>." if the target has it, "No, I don't want
      <name>." otherwise. When every named attribute was answered before it repeats the first
      answer ("I already told you: ..."); when none is named it says it does not follow.

    Satisfaction (1..5) of the turn: 5 target accepted; 4 a new question answered yes; 3 a new
    question answered no; 2 a rejected recommendation; 1 a question already answered or an
    utterance naming no attribute. Every turn of satisfaction 2 or less costs one unit of
    ``patience``; when it reaches 0 the user leaves ("That's enough for me, bye.").
    """

    def __init__(self, catalog: Catalog, matcher: AttributeMatcher, patience: int = 5) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience={patience!r} must be an integer >= 1")
        self.catalog = catalog
        self.matcher = matcher
        self.patience = patience
        self.target = -1
        self.patience_left = patience
        self.answers: dict[int, bool] = {}
        self._target_attributes: frozenset[int] = frozenset()

    def begin(self, target: int, opening_attribute: int) -> str:
        """Start a conversation about ``target``; return the opening request."""
        self.target = int(target)
        self._target_attributes = frozenset(
            self.catalog.item_attributes[[self.target], :].indices.tolist()
        )
        if opening_attribute not in self._target_attributes:
            raise ValueError(
                f"opening_attribute={opening_attribute!r} is not an attribute of target item "
                f"{self.target}"
            )
        self.patience_left = self.patience
        self.answers = {int(opening_attribute): True}
        name = self.catalog.attribute_names[int(opening_attribute)]
        return f"Hi! I'm looking for something with {name}."

    def respond(self, utterance: str, recommended: Sequence[int]) -> UserReply:
        """Answer one turn (``recommended``: distinct item rows, in ranked order)."""
        names = self.catalog.attribute_names
        if len(recommended):
            if self.target in recommended:
                title = self.catalog.titles[self.target]
                return UserReply(
                    reply=f"Yes! {title} is exactly what I was looking for.",
                    satisfaction=5,
                    reason="the recommendation includes the item I want",
                    accepted=True,
                    left=False,
                )
            reply = "No, none of these is what I'm looking for."
            satisfaction, reason = 2, "the recommended items are not what I want"
        else:
            mentioned = self.matcher.find(utterance)
            new = [a for a in mentioned if a not in self.answers]
            if new:
                attribute = new[0]
                has = attribute in self._target_attributes
                self.answers[attribute] = has
                reply = _answer(names[attribute], has)
                satisfaction = 4 if has else 3
                reason = (
                    f"a useful question: I do want {names[attribute]}"
                    if has
                    else f"a fair question, though I don't want {names[attribute]}"
                )
            elif mentioned:
                attribute = mentioned[0]
                reply = "I already told you: " + _answer(names[attribute], self.answers[attribute])
                satisfaction, reason = 1, f"I had already answered about {names[attribute]}"
            else:
                reply = (
                    "Sorry, I don't follow. Ask me about something I might like, "
                    "or recommend something."
                )
                satisfaction, reason = 1, "the message asked about nothing I know"
        left = False
        if satisfaction <= 2:
            self.patience_left -= 1
            if self.patience_left <= 0:
                left = True
                reply += " That's enough for me, bye."
        return UserReply(reply, satisfaction, reason, accepted=False, left=left)


def _answer(name: str, has: bool) -> str:
    return f"Yes, I'd like {name}." if has else f"No, I don't want {name}."
