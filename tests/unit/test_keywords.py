"""The keyword grammar, one row a text, and the texts Muster answers with."""

from __future__ import annotations

import pytest

from handlers.keywords import Intent, parse
from handlers.onboarding_answers import is_a_message, parse_interests, parse_name
from handlers.segments import count_segments
from handlers.sms_fitting import fit, fit_list, gsm_folded
from handlers.sms_text import TEXTS

ROWS = [
    # text, intent, argument, language
    ("JOIN", Intent.OPT_IN, None, "en"),
    ("start", Intent.OPT_IN, None, None),
    ("UNSTOP", Intent.OPT_IN, None, None),
    ("Subscribe", Intent.OPT_IN, None, "en"),
    ("UNIRSE", Intent.OPT_IN, None, "es"),
    ("¡Hola!", Intent.OPT_IN, None, "es"),
    (" stop. ", Intent.OPT_OUT, None, None),
    ("STOP 🛑", Intent.OPT_OUT, None, None),
    ("stopall", Intent.OPT_OUT, None, None),
    ("Unsubscribe", Intent.OPT_OUT, None, "en"),
    ("CANCEL", Intent.OPT_OUT, None, None),
    ("End", Intent.OPT_OUT, None, None),
    ("quit", Intent.OPT_OUT, None, None),
    ("OPTOUT", Intent.OPT_OUT, None, None),
    ("opt-out", Intent.OPT_OUT, None, None),
    ("revoke", Intent.OPT_OUT, None, None),
    ("ALTO", Intent.OPT_OUT, None, "es"),
    ("parar", Intent.OPT_OUT, None, "es"),
    ("stop please", Intent.OPT_OUT, None, None),
    ("Stop texting me!!", Intent.OPT_OUT, None, None),
    ("remove me from this list", Intent.OPT_OUT, None, "en"),
    ("unsubscribe me", Intent.OPT_OUT, None, "en"),
    ("No me manden más mensajes", Intent.OPT_OUT, None, "es"),
    # courtesy before the keyword, or the keyword again (FCC 24-24: "any reasonable means")
    ("Please STOP", Intent.OPT_OUT, None, None),
    ("please stop", Intent.OPT_OUT, None, None),
    ("STOP STOP", Intent.OPT_OUT, None, None),
    ("stop stop stop", Intent.OPT_OUT, None, None),
    ("pls stop", Intent.OPT_OUT, None, None),
    ("ok stop", Intent.OPT_OUT, None, None),
    ("Just stop.", Intent.OPT_OUT, None, None),
    ("please stop all", Intent.OPT_OUT, None, None),
    ("Please unsubscribe", Intent.OPT_OUT, None, "en"),
    ("por favor ALTO", Intent.OPT_OUT, None, "es"),
    ("alto por favor", Intent.OPT_OUT, None, "es"),
    ("Por favor, STOP", Intent.OPT_OUT, None, "es"),
    ("HELP", Intent.HELP, None, None),
    ("info", Intent.HELP, None, None),
    ("Ayúda", Intent.HELP, None, "es"),
    ("SHIFTS", Intent.SHIFTS, None, None),
    ("turnos", Intent.SHIFTS, None, "es"),
    ("Yes 12!", Intent.COMMIT, "12", None),
    ("Y 12", Intent.COMMIT, "12", None),
    ("SIGNUP 12", Intent.COMMIT, "12", "en"),
    ("sign up #12", Intent.COMMIT, "12", "en"),
    ("yes12", Intent.COMMIT, "12", None),
    ("Sí 12", Intent.COMMIT, "12", "es"),
    ("DROP 12", Intent.DROP, "12", None),
    ("drop #12.", Intent.DROP, "12", None),
    ("drop", Intent.DROP, None, None),
    ("MY", Intent.MY, None, None),
    ("mis turnos", Intent.MY, None, "es"),
    ("C", Intent.CONFIRM, None, None),
    ("Confirm!", Intent.CONFIRM, None, None),
    ("NAME Maria", Intent.NAME, "Maria", None),
    ("name   Ana Lucía 😊", Intent.NAME, "Ana Lucía", None),
    ("Name is Maria", Intent.NAME, "Maria", None),
    ("Name's Maria", Intent.NAME, "Maria", None),
    ("name: Maria", Intent.NAME, "Maria", None),
    ("nombre es María", Intent.NAME, "María", "es"),
    ("NAME Isabel", Intent.NAME, "Isabel", None),
    ("NOMBRE Esteban", Intent.NAME, "Esteban", "es"),
    ("NAME is", Intent.NAME, None, None),
    ("ZIP 02124", Intent.ZIP, "02124", None),
    ("ZIP 02124-3301", Intent.ZIP, "02124-3301", None),
    ("zip: 02124", Intent.ZIP, "02124", None),
    ("ZIP:02124!", Intent.ZIP, "02124", None),
    ("Zip code 02124-3301", Intent.ZIP, "02124-3301", None),
    ("código postal 02124", Intent.ZIP, "02124", "es"),
    ("ZIP 0212-43301", Intent.ZIP, "0212-43301", None),
    ("Yes", Intent.YES, None, None),
    ("y", Intent.YES, None, None),
    ("sí", Intent.YES, None, "es"),
    ("NO", Intent.NO, None, None),
    ("n", Intent.NO, None, None),
    ("skip", Intent.SKIP, None, None),
    ("CANCEL 12", Intent.MAYBE_OPT_OUT, "12", None),
    ("please cancel 12", Intent.MAYBE_OPT_OUT, "12", None),
    ("can I stop by at 5?", Intent.MAYBE_OPT_OUT, None, None),
    ("please stop by at 5", Intent.MAYBE_OPT_OUT, None, None),
    ("please don't stop the canvass", Intent.MAYBE_OPT_OUT, None, None),
    ("ok stop 12", Intent.MAYBE_OPT_OUT, "12", None),
    ("wrong number", Intent.MAYBE_OPT_OUT, None, None),
    ("When is the rally?", Intent.OTHER, None, None),
    ("12", Intent.OTHER, None, None),
    ("2", Intent.NUMBER, "2", None),  # a vote when a ballot awaits; else as before
    ("#3.", Intent.NUMBER, "3", None),
    ("0", Intent.OTHER, None, None),
    ("1 3", Intent.OTHER, None, None),  # onboarding's interests, as before
    ("VOTE 7 2", Intent.VOTE, "7 2", None),
    ("vote 2", Intent.VOTE, "2", None),
    ("votar 7 1", Intent.VOTE, "7 1", "es"),
    ("vote", Intent.VOTE, None, None),
    ("", Intent.OTHER, None, None),
    ("🙂", Intent.OTHER, None, None),
]


@pytest.mark.parametrize(("text", "intent", "arg", "language"), ROWS)
def test_keyword_grammar(text: str, intent: Intent, arg: str | None, language: str | None):
    parsed = parse(text)
    assert (parsed.intent, parsed.arg, parsed.language) == (intent, arg, language)


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("Please STOP", "STOP"),
        ("STOP STOP", "STOP"),
        ("por favor ALTO", "ALTO"),
        ("ok opt out", "OPT OUT"),
    ],
)
def test_the_keyword_under_the_courtesy_is_the_one_recognised(text: str, keyword: str) -> None:
    assert parse(text).keyword == keyword


def test_a_huge_shift_number_is_a_number_not_a_crash() -> None:
    parsed = parse("YES 123456789012345678901234567890")
    assert parsed.intent == Intent.COMMIT and parsed.number == 123456789012345678901234567890


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Maria", "Maria"),
        ("maria", "Maria"),
        ("MARIA LOPEZ", "Maria Lopez"),
        ("I'm Ana Lucía 😊", "Ana Lucía"),
        ("me llamo josé", "José"),
        ("Hi, my name is Jean-Luc", "Jean-Luc"),
        ("I’m Ana", "Ana"),
        ("My name’s Maria", "Maria"),
        ("nombre es María", "María"),
        ("Yo soy José", "José"),
        ("O'Brien", "O'Brien"),
        ("f\x1eùN", "f ùN"),
        ("ana\tmaria", "Ana Maria"),
        ("when is the next canvass?", None),
        ("R2D2", None),
        ("02124", None),
        ("", None),
    ],
)
def test_names_from_onboarding_answers(text: str, name: str | None) -> None:
    assert parse_name(text) == name


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Name is Maria", "Maria"),
        ("NAME my name is Maria", "Maria"),
        ("nombre es María", "María"),
        ("NAME me llamo José", "José"),
        ("Name’s Maria", "Maria"),
        ("NAME maria josé", "Maria José"),
    ],
)
def test_the_name_keyword_drops_the_words_that_lead_into_the_name(text: str, name: str) -> None:
    parsed = parse(text)
    assert parsed.intent == Intent.NAME and parse_name(parsed.arg or "") == name


@pytest.mark.parametrize(
    ("text", "tags"),
    [
        ("1", ["phonebank"]),
        ("1 3", ["phonebank", "textbank"]),
        ("1,2, 5", ["phonebank", "canvass", "host"]),
        ("135", ["phonebank", "textbank", "host"]),
        ("2 and 4", ["canvass", "testify"]),
        ("canvass", ["canvass"]),
        ("6", None),
        ("1 6", None),
        ("sure", None),
    ],
)
def test_interests_from_onboarding_answers(text: str, tags: list[str] | None) -> None:
    assert parse_interests(text) == tags


SAMPLE = {
    "org": "Mass Forward",
    "contact": " Help: help@massforward.org.",
    "name": "Maria",
    "zip": "00000",
    "n": 123,
    "rank": 12,
    "k": 3,
    "shift": "#123 Sat 11/21 10:30am Phonebank for the Clea...",
    "title": "Phonebank for the Clea...",
    "word": "DROP",
    "place": "Dorchester Center, MA",
    "districts": "US House MA-4; MA Senate Second Middlesex; MA House 10th Bristol",
    "count": "two",
    "chamber": "state house",
    "email": "maria.lopez.volunteer@example.org",
    "people": "State Rep. Patricia Haddad (617) 722-2600",  # CALL: one a line, up to three
}


@pytest.mark.parametrize(("key", "lang"), [(k, lang) for k in TEXTS for lang in TEXTS[k]])
def test_every_reply_fits_one_segment(key: str, lang: str) -> None:
    body = fit(TEXTS[key][lang].format(**SAMPLE), 3)
    assert count_segments(body).segments == 1, body


def test_accents_stay_unless_dropping_them_saves_a_segment() -> None:
    short = "¿Cuál es tu código postal?"
    assert fit(short, 3) == short
    long = "Responde con números: " + "á" * 60
    assert count_segments(fit(long, 3)).encoding == "gsm7"
    assert gsm_folded("¿Cuál? “sí” — ñ") == '¿Cual? "si" - ñ'


def test_lists_keep_whole_lines_within_three_segments() -> None:
    lines = [f"#{i} Sat 11/21 10am A shift with a long title 💪" for i in range(20)]
    body = fit_list("Open shifts:", lines, "Reply YES + number", 3)
    assert count_segments(body).segments <= 3
    assert body.startswith("Open shifts:\n#0") and body.endswith("Reply YES + number")
    assert fit("x" * 2000, 3).endswith("...") and count_segments(fit("x" * 2000, 3)).segments == 3


def test_email_keyword_keeps_the_address_as_typed() -> None:
    from handlers.keywords import Intent, parse

    p = parse("EMAIL Me.Too@Example.org")
    assert (p.intent, p.arg) == (Intent.EMAIL, "Me.Too@Example.org")
    assert parse("email: me@example.org").arg == "me@example.org"
    assert parse("email").arg is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when is the next canvass?", True),
        ("I can help on weekends only", True),
        ("02124", False),
        ("my zip is 02124 ok?", False),
        ("Boston", False),
        ("all of them", False),
    ],
)
def test_an_onboarding_text_is_a_message_when_it_is_a_question_or_a_sentence(
    text: str, message: bool
) -> None:
    assert is_a_message(text) == message


@pytest.mark.parametrize("lang", ["en", "es"])
def test_a_cut_title_ends_its_sentence_without_a_second_stop(lang: str) -> None:
    from handlers.sms_text import say, short_title

    cut = short_title("Phonebank for the Clean Energy Jobs Act before the vote")
    line = f"#1 Tue 12/8 6pm {cut}"
    assert cut.endswith("...")
    assert f"{cut} " in say("committed", lang, shift=line, n=1)
    assert "...." not in say("confirmed", lang, shift=line)
    assert say("committed", lang, shift="#2 Wed 12/9 10am Canvass", n=2).count("Canvass. ") == 1
