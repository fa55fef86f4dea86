"""Which scenarios run: pure decisions from settings, environment and tags (no behave, no I/O)."""
from __future__ import annotations

from typing import Iterable, Mapping

from support.config import FALSE, TRUE, Settings, is_image_tool

HOW_TO_ENABLE = ("live scenarios are skipped: no backend was asked for. Run `behave -D backend=reference` "
                 "to use the bundled reference backend, or start yours (docker-compose up -d backend) and run "
                 "`RUN_MANUAL_TESTS=1 BACKEND_WS_URL=ws://HOST:PORT/chat/ws behave`")


def run_mode(settings: Settings, environ: Mapping[str, str]) -> str:
    """'reference', 'live' or 'off'."""
    if settings.is_reference:
        return "reference"
    if str(environ.get("RUN_MANUAL_TESTS", "")).strip().lower() in TRUE:
        return "live"
    return "off"


def skip_reason(mode: str, tags: Iterable[str], can_restart: bool, tool_name: str = Settings.tool_name) -> str | None:
    tags = set(tags)
    if mode == "off":
        return HOW_TO_ENABLE
    if "requires_docker" in tags and mode != "live":
        return "needs the dockerised backend: start it (docker-compose up -d backend) and set RUN_MANUAL_TESTS=1"
    if "requires_restart" in tags and not can_restart:
        return ("needs to restart the backend: set restart_command (e.g. -D restart_command="
                "'docker-compose restart backend'), or use -D backend=reference")
    if "image" in tags and not is_image_tool(tool_name):
        return (f"tool_name={tool_name} is not an image tool, so there is no picture to check "
                "(set tool_name to your image tool, e.g. generate_image, to run it)")
    return None


def in_ci(environ: Mapping[str, str]) -> bool:
    """CI systems set CI (GitHub Actions, GitLab, Jenkins plugins...): any value but false/0/no/off."""
    return str(environ.get("CI", "")).strip().lower() not in FALSE


def backend_required_but_off(mode: str, require_backend: bool, environ: Mapping[str, str]) -> str | None:
    """Why the run must fail instead of skipping everything, or None.

    A CI job that forgot to ask for a backend would otherwise go green having tested nothing.
    """
    if mode != "off" or not (require_backend or in_ci(environ)):
        return None
    why = "require_backend=true" if require_backend else f"CI={environ.get('CI')!r} (a CI run)"
    return (f"no backend was asked for, so every scenario would be skipped, and {why} needs a tested backend: "
            "run `behave -D backend=reference` for the bundled backend, or set RUN_MANUAL_TESTS=1 "
            "(with BACKEND_WS_URL) for yours")
