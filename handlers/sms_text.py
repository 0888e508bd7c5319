"""The words Muster texts volunteers, in English and Spanish, and how shifts read in a text.

Every reply is written to fit one SMS segment where it can (160 GSM-7 characters). Spanish replies
keep their accents: correct Spanish is worth the switch to UCS-2, and each of them still fits the
three-segment limit. Fitting a text into its segments is `handlers/sms_fitting.py`.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.shift_lists import OpenShift
from handlers.sms_text_shifts import SHIFT_TEXTS
from storage.models import Shift

LANGUAGES = ("en", "es")

TEXTS: dict[str, dict[str, str]] = {
    "welcome": {
        "en": "{org}: thanks for joining our volunteer texts! Msg freq varies. Msg & data rates "
        "may apply. Reply HELP for help, STOP to opt out. What's your first name?",
        "es": "{org}: ¡gracias por unirte! Frecuencia variable. Pueden aplicarse tarifas de msj y "
        "datos. AYUDA para ayuda, ALTO para salir. ¿Cuál es tu nombre?",
    },
    "welcome_back": {
        "en": "{org}: you're subscribed again. Msg freq varies. Msg & data rates may apply. "
        "Reply HELP for help, STOP to opt out.",
        "es": "{org}: te suscribiste de nuevo. Frecuencia variable. Pueden aplicarse tarifas "
        "de msj y datos. AYUDA para ayuda, ALTO para salir.",
    },
    "subscribed": {
        "en": "{org}: you're subscribed to our volunteer texts. Msg freq varies. Msg & data rates "
        "may apply. Reply HELP for help, STOP to opt out.",
        "es": "{org}: te suscribiste a nuestros mensajes. Frecuencia variable. Pueden aplicarse "
        "tarifas de msj y datos. AYUDA para ayuda, ALTO para salir.",
    },
    "form_welcome": {
        "en": "{org}: You signed up on our form to get our volunteer texts. Msg freq varies. Msg "
        "& data rates may apply. Reply HELP for help, STOP to opt out.",
        "es": "{org}: Te inscribiste en nuestro formulario para recibir mensajes. Frecuencia "
        "variable. Pueden aplicarse tarifas. AYUDA para ayuda, ALTO para salir.",
    },
    "already_joined": {
        "en": "{org}: you're already signed up. Reply SHIFTS to see shifts, HELP for help, STOP "
        "to opt out.",
        "es": "{org}: ya estás inscrito. Responde TURNOS para ver turnos, AYUDA para ayuda, ALTO "
        "para salir.",
    },
    "opted_out": {
        "en": "{org}: you're unsubscribed and will get no more texts from us. Reply START to "
        "resubscribe.",
        "es": "{org}: te diste de baja y no recibirás más mensajes nuestros. Responde UNIRSE para "
        "volver.",
    },
    "help": {
        "en": "{org} volunteer texts.{contact} Reply SHIFTS for shifts, MY for yours. Msg & data "
        "rates may apply. Reply STOP to opt out.",
        "es": "{org}, mensajes para voluntarios.{contact} TURNOS para ver turnos, MIS para los "
        "tuyos. Pueden aplicarse tarifas. ALTO para salir.",
    },
    # HELP from a number not signed up, and from one that opted out: what they can do instead.
    "help_stranger": {
        "en": "{org} volunteer texts.{contact} Reply JOIN to sign up. Msg & data rates may apply. "
        "Reply STOP to opt out.",
        "es": "{org}, mensajes para voluntarios.{contact} Responde HOLA para inscribirte. Pueden "
        "aplicarse tarifas. ALTO para salir.",
    },
    "help_opted_out": {
        "en": "{org} volunteer texts.{contact} You're unsubscribed: reply START to get our texts "
        "again. Msg & data rates may apply.",
        "es": "{org}, mensajes para voluntarios.{contact} No recibes nuestros mensajes: responde "
        "HOLA para volver. Pueden aplicarse tarifas.",
    },
    "help_contact": {"en": " Help: {contact}.", "es": " Ayuda: {contact}."},
    "join_first": {
        "en": "{org}: reply JOIN to get volunteer texts from us. Msg & data rates may apply. "
        "Reply HELP for help, STOP to opt out.",
        "es": "{org}: responde UNIRSE para recibir mensajes para voluntarios. Pueden aplicar "
        "tarifas. AYUDA para ayuda, ALTO para salir.",
    },
    # Onboarding
    "ask_name": {
        "en": "What's your first name?",
        "es": "¿Cuál es tu nombre?",
    },
    "thanks_name": {"en": "Thanks, {name}!", "es": "¡Gracias, {name}!"},
    "thanks": {"en": "Thanks!", "es": "¡Gracias!"},
    "ask_zip": {
        "en": "What's your 5-digit ZIP code? (or SKIP)",
        "es": "¿Cuál es tu código postal de 5 dígitos? (o SALTAR)",
    },
    "bad_zip": {
        "en": "Sorry, {zip} isn't a US ZIP code. Please send your 5-digit ZIP (or SKIP).",
        "es": "Lo siento, {zip} no es un código postal de EE. UU. Envía tus 5 dígitos (o SALTAR).",
    },
    "zip_skipped": {
        "en": "Let's skip the ZIP for now (you can send ZIP 02124 later).",
        "es": "Dejemos el código postal para después (puedes enviar ZIP 02124 luego).",
    },
    "ask_interests": {
        "en": "How would you like to help? Reply with numbers: 1 phonebank, 2 canvass, 3 text "
        "bank, 4 testify or lobby, 5 host an event. Or SKIP.",
        "es": "¿Cómo te gustaría ayudar? Responde con números: 1 llamadas, 2 puerta a puerta, 3 "
        "mensajes, 4 testificar o cabildear, 5 organizar un evento. O SALTAR.",
    },
    "onboarded": {
        "en": "You're all set{name}! Reply SHIFTS to see upcoming shifts, HELP for help.",
        "es": "¡Listo{name}! Responde TURNOS para ver los próximos turnos, AYUDA para ayuda.",
    },
    # The shift keywords: handlers/sms_text_shifts.py
    **SHIFT_TEXTS,
    # Profile
    "name_set": {
        "en": "Thanks, {name}! Your name is updated.",
        "es": "¡Gracias, {name}! Actualizamos tu nombre.",
    },
    "name_usage": {
        "en": "Send NAME and your first name, e.g. NAME Maria.",
        "es": "Envía NOMBRE y tu nombre, p. ej. NOMBRE María.",
    },
    "zip_set": {
        "en": "Got it: ZIP {zip} ({place}).",
        "es": "Listo: código postal {zip} ({place}).",
    },
    "zip_usage": {
        "en": "Send ZIP and your 5-digit ZIP code, e.g. ZIP 02124.",
        "es": "Envía ZIP y tu código postal de 5 dígitos, p. ej. ZIP 02124.",
    },
    # Districts (ADDRESS, DISTRICTS, onboarding's address question)
    "address_usage": {
        "en": "Send ADDRESS and your street address, e.g. ADDRESS 12 Main St.",
        "es": "Envía DIRECCION y tu calle y número, p. ej. DIRECCION 12 Main St.",
    },
    "address_taken": {
        "en": "Thanks! We'll look up your districts and text you when we know them.",
        "es": "¡Gracias! Buscaremos tus distritos y te escribiremos cuando los sepamos.",
    },
    "address_kept": {
        "en": "Thanks, we saved your address.",
        "es": "Gracias, guardamos tu dirección.",
    },
    "address_districts": {
        "en": "Your districts: {districts}. Reply DISTRICTS any time to see them.",
        "es": "Tus distritos: {districts}. Responde DISTRICTS para verlos.",
    },
    "address_no_districts": {
        "en": "We found your address but no districts for it yet.",
        "es": "Encontramos tu dirección, pero aún no sus distritos.",
    },
    "address_no_match": {
        "en": "We couldn't find that address. Reply ADDRESS with street, city and ZIP to try "
        "again.",
        "es": "No encontramos esa dirección. Responde DIRECCION con calle, ciudad y código postal.",
    },
    "districts_known": {
        "en": "Your districts: {districts}.",
        "es": "Tus distritos: {districts}.",
    },
    "districts_unknown": {
        "en": "We don't know your districts yet. Reply ADDRESS and your street address so we "
        "can find them.",
        "es": "Aún no sabemos tus distritos. Responde DIRECCION y tu calle y número para "
        "buscarlos.",
    },
    "call_known": {
        "en": "Call {people}. Reply DONE when you've called.",
        "es": "Llama a {people}. Responde LISTO cuando hayas llamado.",
    },
    "call_unknown": {
        "en": "We don't have your legislators on file yet ({districts}). An organizer can help: "
        "reply with your question.",
        "es": "Aún no tenemos a tus legisladores ({districts}). Un organizador puede ayudarte: "
        "responde con tu pregunta.",
    },
    "call_needs_address": {
        "en": "To find who represents you, reply ADDRESS and your street address, e.g. "
        "ADDRESS 12 Main St.",
        "es": "Para saber quién te representa, responde DIRECCION y tu calle y número, p. ej. "
        "DIRECCION 12 Main St.",
    },
    "call_pending": {
        "en": "We're still looking up your address; text CALL again in a few minutes.",
        "es": "Aún estamos buscando tu dirección; envía LLAMAR de nuevo en unos minutos.",
    },
    "done_thanks": {
        "en": "Thank you for calling! We've counted it.",
        "es": "¡Gracias por llamar! Lo hemos contado.",
    },
    "done_again": {
        "en": "Already counted. Thank you!",
        "es": "Ya lo contamos. ¡Gracias!",
    },
    "done_nothing": {
        "en": "Thanks! There's no call to action to report right now.",
        "es": "¡Gracias! No hay ninguna acción pendiente ahora.",
    },
    "cta_yes_follow_up": {
        "en": "Thanks, we've got your YES!",
        "es": "¡Gracias, recibimos tu SÍ!",
    },
    "districts_pending": {
        "en": " We're still looking up your address.",
        "es": " Aún estamos buscando tu dirección.",
    },
    "ask_address_split": {
        "en": "Your ZIP is split between {count} {chamber} districts. Reply with your street "
        "address so we can tell you which is yours, or SKIP.",
        "es": "Tu código postal está dividido entre {count} distritos ({chamber}). Responde con "
        "tu calle y número para saber cuál es el tuyo, o SKIP.",
    },
    "email_set": {
        "en": "Thanks! Your email is {email}.",
        "es": "¡Gracias! Tu correo es {email}.",
    },
    "email_usage": {
        "en": "Send EMAIL and your address, e.g. EMAIL me@example.org",
        "es": "Envía CORREO y tu dirección, p. ej. CORREO yo@example.org",
    },
    # Calls to action and check-ins
    "cta_yes": {
        "en": "Thanks, we've got your YES! An organizer will follow up.",
        "es": "¡Gracias, recibimos tu SÍ! Un organizador te contactará.",
    },
    "cta_no": {
        "en": "Thanks for letting us know.",
        "es": "Gracias por avisarnos.",
    },
    "checkin_yes": {
        "en": "Thanks for coming to {title}!",
        "es": "¡Gracias por venir a {title}!",
    },
    "checkin_no": {
        "en": "Sorry we missed you. Hope to see you next time! Reply SHIFTS for upcoming shifts.",
        "es": "Te extrañamos. ¡Esperamos verte la próxima! Responde TURNOS para ver turnos.",
    },
    "yes_without_question": {
        "en": "Thanks! Reply SHIFTS to see open shifts, then YES and a number to sign up.",
        "es": "¡Gracias! Responde TURNOS para ver turnos y luego SI y un número para inscribirte.",
    },
    # Anything else
    "ack": {
        "en": "{org}: thanks, we got your message. An organizer will read it.",
        "es": "{org}: gracias, recibimos tu mensaje. Un organizador lo leerá.",
    },
    "maybe_drop_which": {
        "en": "{org}: to leave a shift, reply DROP and its number (MY lists yours). To stop all "
        "texts from us, reply STOP.",
        "es": "{org}: para salir de un turno, responde DROP y su número (MY muestra los tuyos). "
        "Para no recibir más mensajes, responde ALTO.",
    },
    "maybe_drop": {
        "en": "To leave shift {n}, reply DROP {n}. To stop all texts from us, reply STOP.",
        "es": "Para salir del turno {n}, responde DROP {n}. Para no recibir más mensajes, "
        "responde ALTO.",
    },
    "maybe_opt_out": {
        "en": "{org}: got it. To stop all texts from us, reply STOP.",
        "es": "{org}: recibido. Para no recibir más mensajes, responde ALTO.",
    },
}

_WEEKDAYS = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "es": ("lun", "mar", "mié", "jue", "vie", "sáb", "dom"),
}
TITLE_CHARS = 28


def lang_of(language: str | None) -> str:
    return language if language in LANGUAGES else "en"


# A sentence's full stop right after a value that already ends one: "... the Clean...." or
# "Testify!." reads as a typo. The value's own mark ends the sentence.
_DOUBLE_STOP = re.compile(r"(\.\.\.|[!?…])\.(?=\s|$)")


def say(key: str, language: str | None, **values: object) -> str:
    return _DOUBLE_STOP.sub(r"\1", TEXTS[key][lang_of(language)].format(**values))


def when(
    at: datetime, zone: str | None, language: str | None, *, shift_zone: str | None = None
) -> str:
    """`Sat 11/21 10am` (English, US order) or `sáb 21/11 10:00` (Spanish), in the zone given;
    with the zone's name (`9am CST`) when the shift was set in another zone, so a Boston canvass
    read in Chicago is not taken for 9am in Boston."""
    local = at.astimezone(ZoneInfo(zone)) if zone else at
    named = f" {local.tzname()}" if zone and shift_zone and shift_zone != zone else ""
    lang = lang_of(language)
    day = _WEEKDAYS[lang][local.weekday()]
    if lang == "es":
        return f"{day} {local.day}/{local.month} {local:%H:%M}{named}"
    hour = local.hour % 12 or 12
    minutes = f":{local.minute:02d}" if local.minute else ""
    ampm = "am" if local.hour < 12 else "pm"
    return f"{day} {local.month}/{local.day} {hour}{minutes}{ampm}{named}"


def short_title(title: str) -> str:
    """The title, cut at a word to fit a line of a text (`Phonebank for the Clean...`)."""
    title = " ".join(title.split())
    if len(title) <= TITLE_CHARS:
        return title
    cut = title[: TITLE_CHARS - 3]
    if " " in cut[TITLE_CHARS // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-") + "..."


def help_reply(
    language: str | None, *, org: str, contact: str | None, subscribed: bool | None = True
) -> str:
    """The answer to HELP: who we are, how to reach a person, how to stop; and, for a number
    not signed up (`subscribed=None`) or opted out (False), how to sign up or come back."""
    contact_text = say("help_contact", language, contact=contact) if contact else ""
    key = {True: "help", None: "help_stranger", False: "help_opted_out"}[subscribed]
    return say(key, language, org=org, contact=contact_text)


def shift_line(shift: Shift | OpenShift, zone: str | None, language: str | None) -> str:
    """`#12 Sat 11/21 10am Phonebank for the Clean...`: number, local start and title."""
    at = when(shift.starts_at, zone, language, shift_zone=shift.timezone)
    return f"#{shift.id} {at} {short_title(shift.title)}"
