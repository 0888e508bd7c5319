"""The modals Muster opens (add a shift, a broadcast) and reading their submitted state: one of
the Slack rendering modules beside `bot/slack_render.py`; `bot/slack_app.py` opens them."""

from __future__ import annotations

from typing import Any

from bot.slack_render_kit import Block, plain
from handlers import views

SHIFT_MODAL = "muster.shift_add"
BROADCAST_MODAL = "muster.broadcast"


def _input(
    block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = ""
) -> Block:
    block: Block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": {**element, "action_id": block_id},
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    return block


def _text_input(placeholder: str = "", multiline: bool = False, max_length: int = 0) -> dict:
    element: dict[str, Any] = {"type": "plain_text_input", "multiline": multiline}
    if placeholder:
        element["placeholder"] = plain(placeholder)
    if max_length:
        element["max_length"] = max_length
    return element


def shift_modal(view: views.ShiftFormView) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": SHIFT_MODAL,
        "private_metadata": view.channel_id or "",
        "title": plain("Add a shift"),
        "submit": plain("Add shift"),
        "close": plain("Cancel"),
        "blocks": [
            _input(
                "title", "Title", _text_input("Phonebank for the Clean Energy bill", max_length=200)
            ),
            _input("date", "Date", {"type": "datepicker"}),
            _input("start_time", "Starts", {"type": "timepicker"}, hint=view.timezone),
            _input("end_time", "Ends", {"type": "timepicker"}),
            _input("capacity", "Volunteers needed", _text_input("10", max_length=5)),
            _input("location", "Location", _text_input("1 Main St, Dorchester"), optional=True),
            _input("zip", "ZIP", _text_input("02124", max_length=5), optional=True),
            _input(
                "tags",
                "Tags",
                _text_input("phonebank, canvass"),
                optional=True,
                hint="comma-separated; volunteers who chose these hear about it first",
            ),
        ],
    }


def broadcast_modal(view: views.BroadcastFormView) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": BROADCAST_MODAL,
        "private_metadata": view.channel_id or "",
        "title": plain("Broadcast"),
        "submit": plain("Preview"),
        "close": plain("Cancel"),
        "blocks": [
            _input("to", "To", _text_input("all"), hint=f"Audiences: {view.audiences}"),
            _input(
                "message",
                "Message",
                _text_input("Can you phonebank Saturday? Reply YES", True, 1600),
                hint="fields: {first_name|friend} {zip} {chapter} {rep} {rep_phone} {senator} "
                "{senator_phone} {us_rep} {us_rep_phone}",
            ),
            _input(
                "on_yes",
                "If they answer YES, text",
                _text_input("Thank you! Call {rep} at {rep_phone} and say ...", True, 1600),
                optional=True,
                hint="texted once; fields as in the message",
            ),
            _input("on_no", "If they answer NO, text", _text_input(max_length=1600), optional=True),
            _input(
                "date", "Send on (leave empty to send now)", {"type": "datepicker"}, optional=True
            ),
            _input("time", "At", {"type": "timepicker"}, optional=True),
            _input(
                "every",
                "Or repeat (cron)",
                _text_input("0 10 * * MON"),
                optional=True,
                hint="minute hour day month weekday",
            ),
            _input(
                "until",
                "Not sent after",
                _text_input("2h, or 2026-11-19 20:00"),
                optional=True,
                hint="a length (2h, 90m) or a date and time; texts still waiting then are dropped",
            ),
            _input(
                "quiet_hours",
                "Quiet hours",
                {
                    "type": "checkboxes",
                    "options": [
                        {
                            "text": plain("Override quiet hours: a true emergency"),
                            "description": plain("Sent at once even at night; audited as yours"),
                            "value": "override",
                        }
                    ],
                },
                optional=True,
            ),
        ],
    }


def form_values(state: dict[str, Any]) -> dict[str, str]:
    """A submitted modal's `view.state.values` -> {block_id: value as text}."""
    values: dict[str, str] = {}
    for block_id, actions in (state or {}).get("values", {}).items():
        for element in actions.values():
            kind = element.get("type")
            if kind == "datepicker":
                value = element.get("selected_date")
            elif kind == "timepicker":
                value = element.get("selected_time")
            elif kind in ("static_select", "radio_buttons"):
                value = (element.get("selected_option") or {}).get("value")
            elif kind == "checkboxes":
                value = ",".join(o.get("value", "") for o in element.get("selected_options") or [])
            else:
                value = element.get("value")
            values[block_id] = value or ""
    return values
