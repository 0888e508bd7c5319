"""The words of the shift keywords' answers (SHIFTS, YES N, DROP N, MY, C), in English and
Spanish: part of `handlers.sms_text.TEXTS`, which every reply is looked up in.
"""

from __future__ import annotations

SHIFT_TEXTS: dict[str, dict[str, str]] = {
    "shifts_header": {"en": "Open shifts:", "es": "Turnos abiertos:"},
    "shifts_footer": {
        "en": "Reply YES + number to sign up, e.g. YES {n}",
        "es": "Responde SI + número para inscribirte, p. ej. SI {n}",
    },
    "shifts_zip_hint": {  # after the footer, for a volunteer whose ZIP is not known
        "en": ". Send ZIP and yours (ZIP 02124) to see the nearest first.",
        "es": ". Envía ZIP y el tuyo (ZIP 02124) para ver los más cercanos primero.",
    },
    "no_shifts": {
        "en": "No open shifts right now. Reply SHIFTS again in a few days to see new ones.",
        "es": "No hay turnos abiertos ahora. Responde TURNOS en unos días para ver los nuevos.",
    },
    "spots_left": {"en": "{k} left", "es": "quedan {k}"},
    "committed": {
        "en": "You're signed up: {shift}. Reply DROP {n} if you can't make it.",
        "es": "Estás inscrito: {shift}. Responde DROP {n} si no puedes ir.",
    },
    "waitlisted": {
        "en": "Shift {n} is full, so you're #{rank} on its waitlist. We'll text you if a spot "
        "opens. DROP {n} to leave the list.",
        "es": "El turno {n} está lleno: eres el #{rank} en la lista de espera. Te avisaremos si "
        "se abre un lugar. DROP {n} para salir.",
    },
    "already_committed": {
        "en": "You're already signed up for shift {n}. Reply MY to see your shifts.",
        "es": "Ya estás inscrito en el turno {n}. Responde MIS para ver tus turnos.",
    },
    "already_waitlisted": {
        "en": "You're already on the waitlist for shift {n} (#{rank}). We'll text you if a spot "
        "opens.",
        "es": "Ya estás en la lista de espera del turno {n} (#{rank}). Te avisaremos si se abre "
        "un lugar.",
    },
    "unknown_shift": {
        "en": "There's no shift {n}. Reply SHIFTS to see open shifts.",
        "es": "No hay un turno {n}. Responde TURNOS para ver los turnos abiertos.",
    },
    "past_shift": {
        "en": "Shift {n} has already started, so sign-ups are closed. Reply SHIFTS for upcoming "
        "ones.",
        "es": "El turno {n} ya empezó y no admite inscripciones. Responde TURNOS para ver otros.",
    },
    "cancelled_shift": {
        "en": "Shift {n} was cancelled. Reply SHIFTS for other shifts.",
        "es": "El turno {n} fue cancelado. Responde TURNOS para ver otros.",
    },
    # YES / DROP with several numbers ("YES 1, 2"): a line for each, under one header.
    "many_header": {"en": "Your shifts:", "es": "Tus turnos:"},
    "many_committed": {"en": "{shift}: signed up", "es": "{shift}: inscrito"},
    "many_waitlisted": {
        "en": "#{n}: full, you're #{rank} on the waitlist",
        "es": "#{n}: lleno, eres el #{rank} en la lista de espera",
    },
    "many_already_committed": {"en": "#{n}: already signed up", "es": "#{n}: ya estás inscrito"},
    "many_already_waitlisted": {
        "en": "#{n}: already on the waitlist (#{rank})",
        "es": "#{n}: ya en la lista de espera (#{rank})",
    },
    "many_past_shift": {"en": "#{n}: already started", "es": "#{n}: ya empezó"},
    "many_cancelled_shift": {"en": "#{n}: cancelled", "es": "#{n}: cancelado"},
    "many_unknown_shift": {"en": "#{n}: no such shift", "es": "#{n}: no existe"},
    "many_commit_footer": {
        "en": "Reply DROP and a number if you can't make one.",
        "es": "Responde DROP y el número si no puedes ir a uno.",
    },
    "many_dropped": {"en": "#{n}: you're off it", "es": "#{n}: ya no estás"},
    "many_dropped_waitlist": {
        "en": "#{n}: off the waitlist",
        "es": "#{n}: fuera de la lista de espera",
    },
    "many_drop_not_signed_up": {
        "en": "#{n}: you weren't signed up",
        "es": "#{n}: no estabas inscrito",
    },
    "many_drop_past": {
        "en": "#{n}: already started, please tell an organizer",
        "es": "#{n}: ya empezó, avisa a un organizador",
    },
    "many_drop_footer": {"en": "Thanks for letting us know!", "es": "¡Gracias por avisar!"},
    "dropped": {
        "en": "You're off shift {n}. Thanks for letting us know!",
        "es": "Ya no estás en el turno {n}. ¡Gracias por avisar!",
    },
    "dropped_waitlist": {
        "en": "You're off the waitlist for shift {n}.",
        "es": "Saliste de la lista de espera del turno {n}.",
    },
    "drop_not_signed_up": {
        "en": "You're not signed up for shift {n}. Reply MY to see your shifts.",
        "es": "No estás inscrito en el turno {n}. Responde MIS para ver tus turnos.",
    },
    "drop_past": {
        "en": "Shift {n} has already started. If you can't be there, please tell an organizer.",
        "es": "El turno {n} ya empezó. Si no puedes estar, avisa a un organizador.",
    },
    "which_shift": {
        "en": "Which shift? Send {word} and its number, e.g. {word} 12. Reply SHIFTS or MY to "
        "see numbers.",
        "es": "¿Qué turno? Envía {word} y su número, p. ej. {word} 12. Responde TURNOS o MIS para "
        "ver los números.",
    },
    "promoted": {
        "en": "{org}: a spot opened! You're now signed up: {shift}. Reply DROP {n} if you can't "
        "make it.",
        "es": "{org}: ¡se abrió un lugar! Ya estás inscrito: {shift}. Responde DROP {n} si no "
        "puedes ir.",
    },
    "which_drop_header": {
        "en": "Which shift? You're signed up for:",
        "es": "¿Qué turno? Estás inscrito en:",
    },
    "which_drop_footer": {
        "en": "Reply DROP and its number, e.g. DROP {n}.",
        "es": "Responde DROP y su número, p. ej. DROP {n}.",
    },
    "my_header": {"en": "Your shifts:", "es": "Tus turnos:"},
    "my_waitlist": {"en": "waitlist #{rank}", "es": "en espera #{rank}"},
    "my_confirmed": {"en": "confirmed", "es": "confirmado"},
    "my_none": {
        "en": "You have no upcoming shifts. Reply SHIFTS to find one.",
        "es": "No tienes turnos próximos. Responde TURNOS para buscar uno.",
    },
    "confirmed": {
        "en": "Thanks! You're confirmed: {shift}. See you there!",
        "es": "¡Gracias! Confirmado: {shift}. ¡Nos vemos!",
    },
    "nothing_to_confirm": {
        "en": "You have no reminded shift to confirm. Reply MY to see your shifts.",
        "es": "No tienes un turno por confirmar. Responde MIS para ver tus turnos.",
    },
    # Profile
}
