"""Voting by text: a bare `1`..`9` answers the ballot awaiting this volunteer, `VOTE N 2` names
ballot N. The reply confirms the choice in words and says until when it can be changed; after
the close, or from someone not on the ballot's list, a short specific answer and nothing counted.

A bare number is a vote only when a ballot awaits the volunteer (open, on its list) and they are
past onboarding; otherwise it does what it did before (an onboarding answer, or free text). Each
vote is a new row (`storage.votes.Vote`, append-only); the ballot row is read FOR SHARE, so a
vote and the ballot's close cannot interleave on PostgreSQL (SQLite's one writer serializes).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, insert, select

from handlers import sms_text
from handlers.volunteer.turn import Answer, Turn
from storage.models import OnboardingStep
from storage.votes import Ballot, BallotEligibility, BallotStatus, Vote

RECENTLY_CLOSED = timedelta(days=3)  # a bare number this soon after a close is told it closed

_TEXTS = {
    "counted": {
        "en": "Vote counted on #{n}: {choice}. You can change it until {until}: reply another "
        "number.",
        "es": "Voto contado en #{n}: {choice}. Puede cambiarlo hasta {until}: responda otro "
        "número.",
    },
    "changed": {
        "en": "Vote on #{n} changed to {choice} (was {was}). You can change it until {until}.",
        "es": "Voto en #{n} cambiado a {choice} (antes {was}). Puede cambiarlo hasta {until}.",
    },
    "same": {
        "en": "Your vote on #{n} is already {choice}; it counts. You can change it until {until}.",
        "es": "Su voto en #{n} ya es {choice}; cuenta. Puede cambiarlo hasta {until}.",
    },
    "closed": {
        "en": "Voting on #{n} closed {at}; this vote was not counted.",
        "es": "La votación #{n} cerró {at}; este voto no se contó.",
    },
    "not_open": {
        "en": "Ballot #{n} opens {at}; nothing was counted yet.",
        "es": "La votación #{n} abre {at}; aún no se contó nada.",
    },
    "ineligible": {
        "en": "You are not on the list of voters for ballot #{n} (members when it opened); "
        "nothing was counted.",
        "es": "No está en la lista de votantes de la votación #{n} (miembros al abrirla); no "
        "se contó nada.",
    },
    "no_ballot": {
        "en": "There is no ballot #{n}; nothing was counted.",
        "es": "No hay votación #{n}; no se contó nada.",
    },
    "bad_option": {
        "en": "{k} is not an option on ballot #{n}: reply 1-{last}. Nothing was counted.",
        "es": "{k} no es una opción de la votación #{n}: responda 1-{last}. No se contó nada.",
    },
    "which_ballot": {
        "en": "Several votes are open ({ids}): reply VOTE and the ballot number and your choice, "
        "e.g. VOTE {first} 1.",
        "es": "Hay varias votaciones abiertas ({ids}): responda VOTE, el número de la votación "
        "y su opción, p. ej. VOTE {first} 1.",
    },
    "how": {
        "en": "To vote, reply VOTE, the ballot number and your choice, e.g. VOTE 3 1.",
        "es": "Para votar, responda VOTE, el número de la votación y su opción, p. ej. VOTE 3 1.",
    },
}


def _say(t: Turn, key: str, **values: object) -> str:
    return _TEXTS[key][sms_text.lang_of(t.lang)].format(**values)


def vote_bare(t: Turn) -> Answer | None:
    """A bare 1-9: a vote on the ballot awaiting this volunteer; None (free text) if none does."""
    v = t.volunteer
    assert v is not None
    if v.onboarding_step != OnboardingStep.DONE:
        return None  # what it did before: onboarding had its say; then free text
    number = t.parsed.number
    assert number is not None
    awaiting = _awaiting(t)
    if len(awaiting) > 1:
        ids = ", ".join(f"#{b.id}" for b in awaiting)
        return _say(t, "which_ballot", ids=ids, first=awaiting[0].id), "vote_which"
    if awaiting:
        return _cast(t, awaiting[0].id, number)
    closed = t.session.scalars(
        select(Ballot)
        .where(
            Ballot.status == BallotStatus.CLOSED,
            Ballot.closes_at > t.now - RECENTLY_CLOSED,
            _on_list(v.id),
        )
        .order_by(Ballot.closes_at.desc())
        .limit(1)
    ).first()
    if closed is not None:
        return _say(t, "closed", n=closed.id, at=_when(t, closed)), "vote_closed"
    return None


def vote_named(t: Turn) -> Answer:
    """VOTE N 2 (ballot N, option 2); VOTE 2 (the ballot awaiting); VOTE alone: how to vote."""
    numbers = [int(x) for x in (t.parsed.arg or "").split()]
    if len(numbers) == 2:
        return _cast(t, numbers[0], numbers[1])
    if len(numbers) == 1 and 1 <= numbers[0] <= 9:
        awaiting = _awaiting(t)
        if len(awaiting) == 1:
            return _cast(t, awaiting[0].id, numbers[0])
        if len(awaiting) > 1:
            ids = ", ".join(f"#{b.id}" for b in awaiting)
            return _say(t, "which_ballot", ids=ids, first=awaiting[0].id), "vote_which"
    return _say(t, "how"), "vote_how"


def _on_list(volunteer_id: int):  # type: ignore[no-untyped-def]
    return exists().where(
        BallotEligibility.ballot_id == Ballot.id, BallotEligibility.volunteer_id == volunteer_id
    )


def _awaiting(t: Turn) -> list[Ballot]:
    """Open ballots, before their close, that have this volunteer on their list."""
    assert t.volunteer is not None
    return list(
        t.session.scalars(
            select(Ballot)
            .where(
                Ballot.status == BallotStatus.OPEN,
                Ballot.closes_at > t.now,
                _on_list(t.volunteer.id),
            )
            .order_by(Ballot.id)
        )
    )


def ballot_opened_since(t: Turn, since: datetime) -> bool:
    """Whether a ballot awaiting this volunteer opened after `since` (a newer question than
    whatever was asked then: the digit rule of handlers.volunteer.patch_through)."""
    return any(b.opened_at is not None and b.opened_at > since for b in _awaiting(t))


def _when(t: Turn, ballot: Ballot) -> str:
    return sms_text.when(ballot.closes_at, t.zone, t.lang)


def _cast(t: Turn, ballot_id: int, option: int) -> Answer:
    v = t.volunteer
    assert v is not None
    ballot = t.session.scalars(
        select(Ballot)
        .where(Ballot.id == ballot_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    ).first()
    if ballot is None or ballot.status in (BallotStatus.DRAFT, BallotStatus.CANCELLED):
        return _say(t, "no_ballot", n=ballot_id), "vote_unknown"
    if ballot.status == BallotStatus.SCHEDULED:
        at = sms_text.when(ballot.opens_at, t.zone, t.lang)
        return _say(t, "not_open", n=ballot_id, at=at), "vote_not_open"
    on_list = t.session.get(BallotEligibility, (ballot.id, v.id)) is not None
    if not on_list:
        return _say(t, "ineligible", n=ballot_id), "vote_ineligible"
    if ballot.status == BallotStatus.CLOSED or t.now >= ballot.closes_at:
        return _say(t, "closed", n=ballot_id, at=_when(t, ballot)), "vote_closed"
    last = len(ballot.options)
    if not 1 <= option <= last:
        return _say(t, "bad_option", k=option, n=ballot_id, last=last), "vote_bad_option"
    before = t.session.scalar(
        select(Vote.option)
        .where(Vote.ballot_id == ballot.id, Vote.volunteer_id == v.id)
        .order_by(Vote.id.desc())
        .limit(1)
    )
    t.session.execute(
        insert(Vote).values(
            ballot_id=ballot.id,
            volunteer_id=v.id,
            option=option,
            cast_at=t.now,
            message_sid=t.msg.message_id,
            channel=str(t.msg.channel),
        )
    )
    choice, until = _choice(ballot, option), _when(t, ballot)
    if before is None:
        return _say(t, "counted", n=ballot.id, choice=choice, until=until), "vote"
    if before == option:
        return _say(t, "same", n=ballot.id, choice=choice, until=until), "vote_same"
    was = _choice(ballot, before)
    return _say(t, "changed", n=ballot.id, choice=choice, was=was, until=until), "vote_changed"


def _choice(ballot: Ballot, option: int) -> str:
    text = ballot.options[option - 1]
    return f"{option} {sms_text.short_title(text)}"
