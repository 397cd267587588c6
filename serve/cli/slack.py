"""`docent slack`: the Slack bot over Socket Mode (no public URL needed)."""

from __future__ import annotations

import argparse
import sys

from serve.cli import exits
from serve.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    slack = commands.add_parser("slack", help="run the Slack bot over Socket Mode (no public URL needed)")
    slack.set_defaults(func=run)


def run(settings: Settings, args: argparse.Namespace) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from serve.composition import slack_bot

    with slack_bot(settings) as bot:
        print("docent: Slack bot connecting over Socket Mode", file=sys.stderr, flush=True)
        app_token = settings.slack.app_token
        assert app_token is not None  # slack_bot() refuses to start without one
        SocketModeHandler(bot.app, app_token.get_secret_value()).start()
    return exits.OK
