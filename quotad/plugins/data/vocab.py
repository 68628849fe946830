"""The closed vocabularies of the data plugin: licences, languages, modalities, access, risk statuses.

Why closed lists: matching filters on these values, so a typo ("CC-BY-4" or "jp") must be refused at the door
instead of silently excluding a dataset from every match. The licence list is the small set of SPDX ids that
data is commonly published under; anything else is a ``LicenseRef-...`` (custom or proprietary terms), whose
allowed uses must then be stated explicitly since no default can be read from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ACCESS_MODES",
    "COPYRIGHT_STATUSES",
    "ISO_639_1",
    "LICENCES",
    "MODALITIES",
    "PII_STATUSES",
    "USES",
    "LicenceTerms",
    "Use",
    "canonical_licence",
    "licence_terms",
]

Use = Literal["training", "commercial", "derivatives"]
USES: tuple[Use, ...] = ("training", "commercial", "derivatives")

MODALITIES = ("text", "code", "image", "audio", "video", "multimodal", "tabular")
#: Easiest first: the order is also the access-ease ranking used in scoring.
ACCESS_MODES = ("download", "nda", "on-premises")
#: "unknown" is a refinement of the issue's list: a source that says nothing about PII makes no claim of "none".
PII_STATUSES = ("none", "pseudonymised", "contains", "unknown")
COPYRIGHT_STATUSES = ("cleared", "mixed", "unknown")


@dataclass(frozen=True)
class LicenceTerms:
    """What a licence itself forbids; everything not forbidden defaults to allowed."""

    commercial: bool = True
    derivatives: bool = True


_NC = LicenceTerms(commercial=False)
_ND = LicenceTerms(derivatives=False)
_NC_ND = LicenceTerms(commercial=False, derivatives=False)

#: SPDX ids commonly used for data, with what each forbids.
LICENCES: dict[str, LicenceTerms] = {
    "CC0-1.0": LicenceTerms(),
    "CC-BY-3.0": LicenceTerms(),
    "CC-BY-4.0": LicenceTerms(),
    "CC-BY-SA-3.0": LicenceTerms(),
    "CC-BY-SA-4.0": LicenceTerms(),
    "CC-BY-NC-4.0": _NC,
    "CC-BY-NC-SA-4.0": _NC,
    "CC-BY-ND-4.0": _ND,
    "CC-BY-NC-ND-4.0": _NC_ND,
    "ODC-By-1.0": LicenceTerms(),
    "ODbL-1.0": LicenceTerms(),
    "PDDL-1.0": LicenceTerms(),
    "CDLA-Permissive-1.0": LicenceTerms(),
    "CDLA-Permissive-2.0": LicenceTerms(),
    "CDLA-Sharing-1.0": LicenceTerms(),
    "OGL-UK-3.0": LicenceTerms(),
    "Apache-2.0": LicenceTerms(),
    "MIT": LicenceTerms(),
    "BSD-3-Clause": LicenceTerms(),
    "GFDL-1.3-or-later": LicenceTerms(),
}
_BY_FOLDED = {k.casefold(): k for k in LICENCES}
_LICENSE_REF = re.compile(r"^LicenseRef-[A-Za-z0-9.-]+$")


def canonical_licence(text: str) -> str:
    """The SPDX id as SPDX spells it, or a valid ``LicenseRef-...``; ``ValueError`` naming the choices otherwise."""
    value = text.strip()
    known = _BY_FOLDED.get(value.casefold())
    if known is not None:
        return known
    if _LICENSE_REF.match(value):
        return value
    raise ValueError(f"unknown licence {value!r}: expected an SPDX id ({', '.join(LICENCES)}) or LicenseRef-...")


def licence_terms(spdx: str | None) -> LicenceTerms | None:
    """What the licence forbids, or None when it is custom (LicenseRef) or absent: no defaults can be inferred."""
    return None if spdx is None else LICENCES.get(spdx)


_ISO_639_1_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee
    el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is
    it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms
    mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk
    sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi
    yo za zh zu
"""
#: ISO 639-1 two-letter language codes.
ISO_639_1 = frozenset(_ISO_639_1_CODES.split())
