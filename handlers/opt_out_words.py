"""The words around an opt-out: courtesy that leaves a STOP a STOP ("STOP please", "Please STOP"),
plain requests that are opt-outs ("stop texting me", "remove me from this list", "no me manden
más mensajes"), and words that only might be one, for the organizers to look at.

`handlers.keywords` reads them; revoking consent "by any reasonable means" (FCC 24-24) is why
they are this broad.
"""

from __future__ import annotations

import re

# Words that may follow an opt-out keyword without changing its meaning ("STOP please", "stop
# texting me now", "alto por favor").
FILLER = frozenset(
    [
        "please",
        "pls",
        "plz",
        "now",
        "all",
        "it",
        "them",
        "this",
        "these",
        "that",
        "texting",
        "texts",
        "text",
        "txt",
        "txts",
        "sms",
        "messages",
        "message",
        "msgs",
        "msg",
        "messaging",
        "sending",
        "me",
        "us",
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        "asap",
        "immediately",
        "right",
        "away",
        "already",
        "ok",
        "okay",
        "for",
        "good",
        "forever",
        "permanently",
        "por",
        "favor",
        "ya",
        "todo",
        "todos",
        "los",
        "mensajes",
        "gracias",
        "ahora",
        "mismo",
    ]
)
# Courtesy that may come before an opt-out keyword ("Please STOP", "ok stop", "por favor ALTO"),
# at most MAX_LEADING words of it. Only words that add nothing: "can I stop by?" and "please don't
# stop the canvass" stay maybes.
LEADING_FILLER = frozenset(
    [
        "please",
        "pls",
        "plz",
        "ok",
        "okay",
        "okey",
        "just",
        "thanks",
        "thx",
        "ty",
        "por",
        "favor",
        "porfa",
        "porfavor",
        "xfa",
        "ya",
        "gracias",
    ]
)
MAX_LEADING = 4

OPT_OUT_PHRASES = [
    re.compile(p)
    for p in (
        # English
        r"\b(stop|quit|cease|end) (texting|txting|messaging|msging|sending|contacting|spamming)\b",
        r"\b(remove|delete|take|drop) (me|my number|my phone|this number)\b.*\b(list|off|from)\b",
        r"\b(remove|delete) (me|my number)$",
        r"\btake me off\b",
        r"\bunsubscribe\b",
        r"\bopt (me )?out\b",
        r"\bno (more|further) (texts?|txts?|messages?|msgs?|sms)\b",
        r"\b(do not|dont|don t|never) (text|txt|message|msg|contact|sms) (me|this number)"
        r"( (again|anymore|any more|ever))?$",
        r"\b(do not|dont|don t) want (any more |more |these |your )?(texts|messages|msgs)\b",
        r"\bleave me alone\b",
        r"\blose my number\b",
        # Spanish (accents already folded)
        r"\bno me (manden|mandes|mande|envien|envies|envie|escriban|escribas|textees|texteen|"
        r"contacten|contactes)\b",
        r"\b(sacame|saquenme|borrame|borrenme|quitame|quitenme|eliminame|eliminenme|"
        r"desuscribeme|desuscribanme)\b",
        r"\bdar(me|se)? de baja\b",
        r"\b(dejen|deja|dejar|paren|para|parar) de (mandar|enviar|escribir|textear|contactar)",
        r"\b(ya )?no (quiero|deseo) (recibir )?(mas )?(mensajes|textos|sms)\b",
        r"\bdesuscrib",
        r"\bcancelar (la |mi )?suscripcion\b",
        r"\bno mas (mensajes|textos|sms)\b",
    )
]
MAYBE_OPT_OUT = re.compile(
    r"\b(stop|stopp?ing|quit|cancel|unsub|remove|opt|spam|spamming|wrong number|who is this|"
    r"whos this|who s this|how did you get my number|not interested|don t text|dont text|"
    r"do not text|baja|alto|parar|basta|no mas|no quiero|numero equivocado|quien es)\b"
)
SPANISH_HINT = re.compile(
    r"\b(manden|mandes|envien|envies|mensajes|textos|quiero|deseo|mas|favor|porfa|porfavor|xfa|"
    r"baja|sacame|saquenme|borrame|borrenme|quitame|quitenme|dejen|lista|numero|gracias|"
    r"equivocado|quien)\b"
)
