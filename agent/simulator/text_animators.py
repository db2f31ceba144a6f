"""The fill colour that a text layer's animators give all of its characters.

The simulator draws a text layer in one colour. A text animator's Fill Color replaces the
document's fill colour on the characters its selectors cover. This module handles the case of
an animator that covers every character fully: no selector, or only Range Selectors at Start
0 %, End 100 %, Offset 0 %, in percent units, Add mode and Amount 100 %. Animators apply top to
bottom, so the last such animator wins. Partial ranges, other selectors and keyframes are not
simulated (the static value is used).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

_ANIMATORS = "ADBE Text Animators"
_RANGE_SELECTOR = "ADBE Text Selector"
# Range Selector values that select every character fully, by match name. Units 1 is
# percentage and Mode 1 is Add.
_FULL_RANGE = {
    "ADBE Text Percent Start": 0.0,
    "ADBE Text Percent End": 100.0,
    "ADBE Text Percent Offset": 0.0,
}
_FULL_ADVANCED = {
    "ADBE Text Range Units": 1.0,
    "ADBE Text Selector Mode": 1.0,
    "ADBE Text Selector Max Amount": 100.0,
}


def animator_fill_color(layer: Any) -> tuple[float, float, float] | None:
    """Return the Fill Color of the last animator that covers all of layer's text, if any."""
    try:
        animators = list(layer.text[_ANIMATORS].properties)
    except (KeyError, AttributeError, TypeError):
        return None
    color = None
    for animator in animators:
        if not animator.enabled:
            continue
        try:
            fill = animator["ADBE Text Animator Properties"]["ADBE Text Fill Color"]
            selectors = list(animator["ADBE Text Selectors"].properties)
        except (KeyError, TypeError):
            continue
        # NOTE: py-aep 0.18 lists every animator property, also those not added to the
        # animator, so a Fill Color still at its default value counts as not added.
        if not fill.is_modified:
            continue
        if all(_covers_all(selector) for selector in selectors if selector.enabled):
            red, green, blue = (float(part) for part in list(fill.value)[:3])
            color = (red, green, blue)
    return color


def _covers_all(selector: Any) -> bool:
    if selector.match_name != _RANGE_SELECTOR:
        return False
    try:
        advanced = selector["ADBE Text Range Advanced"]
        values = {name: selector[name].value for name in _FULL_RANGE}
        values |= {name: advanced[name].value for name in _FULL_ADVANCED}
    except (KeyError, TypeError):
        return False
    expected = _FULL_RANGE | _FULL_ADVANCED
    return all(float(values[name]) == value for name, value in expected.items())
