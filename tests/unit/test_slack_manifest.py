"""slack-manifest.yml names exactly the routes, events and bot scopes the code uses.

The code side is read, not guessed: the Web API methods called on a Slack client anywhere in
bot/ and scheduler/, and the Bolt listeners bot/slack_app.py registers. A method or an event
the tables below do not know fails the test, so a new one cannot slip in without its scope.
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "slack-manifest.yml"
PUBLIC_URL = "https://muster.example.org"  # the placeholder deployers replace
SLACK_PREFIXES = ("auth_", "chat_", "conversations_", "files_", "reactions_", "users_", "views_")

# The bot-token scope each Web API method needs (docs.slack.dev, method pages); None: no scope.
METHOD_SCOPES: dict[str, str | None] = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_update": "chat:write",
    "chat_delete": "chat:write",
    "conversations_open": "im:write",
    "files_upload_v2": "files:write",
    "reactions_add": "reactions:write",
    "reactions_remove": "reactions:write",
    "users_info": "users:read",
    "views_open": None,
    "views_publish": None,
    "views_push": None,
    "views_update": None,
}
# A Bolt event listener -> the Events API subscriptions it needs, and each one's scope.
# `message` listens to the inbox channel's threads, public or private.
EVENT_SUBSCRIPTIONS = {
    "message": {"message.channels", "message.groups"},
    "app_home_opened": {"app_home_opened"},
}
EVENT_SCOPES = {
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "app_home_opened": None,
}


def _python_files() -> list[Path]:
    return sorted(p for d in ("bot", "scheduler") for p in (ROOT / d).rglob("*.py"))


def _is_client(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in {"client", "_client", "web_client", "slack"}


def web_api_methods() -> set[str]:
    """Every `client.<method>(...)` that looks like a Slack Web API call."""
    found = set()
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and _is_client(node.func.value)
                and node.func.attr.startswith(SLACK_PREFIXES)
            ):
                found.add(node.func.attr)
    return found


def bolt_listeners() -> dict[str, list[str | None]]:
    """{"event": ["message", ...], "command": [...], "action": [...], "view": [...]}"""
    kinds: dict[str, list[str | None]] = {}
    tree = ast.parse((ROOT / "bot" / "slack_app.py").read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "app"
            and node.func.attr in {"event", "command", "action", "view", "shortcut", "options"}
        ):
            arg = node.args[0] if node.args else None
            value = arg.value if isinstance(arg, ast.Constant) else None
            kinds.setdefault(node.func.attr, []).append(value)
    return kinds


def manifest() -> dict:
    return yaml.safe_load(MANIFEST.read_text())


def test_the_manifest_asks_for_exactly_the_scopes_the_code_uses() -> None:
    methods = web_api_methods()
    assert methods, "no Slack Web API call found: is the scan still looking in the right place?"
    unknown = methods - set(METHOD_SCOPES)
    assert not unknown, f"add the scope of {sorted(unknown)} to METHOD_SCOPES (and the manifest)"
    listeners = bolt_listeners()
    events = set().union(*(EVENT_SUBSCRIPTIONS[e] for e in listeners.get("event", [])))
    needed = {METHOD_SCOPES[m] for m in methods} | {EVENT_SCOPES[e] for e in events}
    if listeners.get("command"):
        needed.add("commands")
    needed.discard(None)
    assert sorted(manifest()["oauth_config"]["scopes"]["bot"]) == sorted(needed)


def test_the_manifest_subscribes_to_exactly_the_events_listened_to() -> None:
    listeners = bolt_listeners()
    assert set(listeners["event"]) <= set(EVENT_SUBSCRIPTIONS), listeners["event"]
    wanted = set().union(*(EVENT_SUBSCRIPTIONS[e] for e in listeners["event"]))
    subscriptions = manifest()["settings"]["event_subscriptions"]
    assert sorted(subscriptions["bot_events"]) == sorted(wanted)
    if "app_home_opened" in listeners["event"]:
        assert manifest()["features"]["app_home"]["home_tab_enabled"] is True
    if listeners.get("action") or listeners.get("view"):
        assert manifest()["settings"]["interactivity"]["is_enabled"] is True


def test_every_url_is_the_route_bolt_serves_under_public_url(db_url, engine) -> None:
    from bot import slack_web
    from bot.bootstrap import bootstrap
    from tests.conftest import make_settings

    settings = make_settings(db_url, slack_bot_token="xoxb-1", slack_signing_secret="s" * 16)
    served = {route.path for route in slack_web.routes(bootstrap(settings, engine=engine))}
    m = manifest()
    urls = [c["url"] for c in m["features"]["slash_commands"]]
    urls += [m["settings"]["event_subscriptions"]["request_url"]]
    urls += [m["settings"]["interactivity"]["request_url"]]
    for url in urls:
        assert url.startswith(PUBLIC_URL + "/"), url
        assert url.removeprefix(PUBLIC_URL) in served, (url, served)
    commands = [c["command"] for c in m["features"]["slash_commands"]]
    assert commands == [Settings.model_fields["slack_command"].default]
    assert bolt_listeners()["command"] == [None]  # registered from SLACK_COMMAND, not hard-coded
