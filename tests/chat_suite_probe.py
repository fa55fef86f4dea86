"""A behave formatter for the project's tests: dumps what ``scenario.chat_suite`` holds (see
support/report.py attach), as report formatters will read it."""
from __future__ import annotations

import json

from behave.formatter.base import Formatter


class ChatSuiteProbe(Formatter):
    name = "chat_suite_probe"
    description = "test helper: scenario.chat_suite as JSON"

    def __init__(self, stream_opener, config):
        super().__init__(stream_opener, config)
        self.scenarios = []

    def scenario(self, scenario):
        self.scenarios.append(scenario)

    def close(self):
        seen = []
        for s in self.scenarios:   # read at the end: after_scenario has attached it by then
            data = getattr(s, "chat_suite", None)
            seen.append(None if data is None else {
                "scenario": s.name, "transcripts_path": data["transcripts_path"], "status": data["status"],
                "violations": data["violations"],
                "transcripts": {tr.name: len(tr.entries) for tr in data["transcripts"]}})
        self.open().write(json.dumps(seen))
        self.close_stream()
