"""behave's own runner, minus the "USING RUNNER: …" line behave 1.3.3 prints to stdout before every
run (behave issue #1319). stdout belongs to the formatters: `behave -f json | python -m json.tool`.

behave.ini names this runner; `pip install -r requirements.txt` installs the project in editable
mode (`-e .`), so a plain `behave` can import it before it puts the project folder on sys.path.
"""
from __future__ import annotations

import sys

from behave.runner import Runner as BehaveRunner

BANNER = "USING RUNNER:"


class _DropBanner:
    """stdout that swallows the banner line (print writes the text, then the newline) and nothing else."""

    def __init__(self, stream):
        self.stream = stream
        self.dropping = False

    def write(self, text: str) -> int:
        if text.startswith(BANNER) or (self.dropping and text == "\n"):
            self.dropping = not self.dropping
            return len(text)
        self.dropping = False
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Runner(BehaveRunner):
    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        self._stdout = sys.stdout
        sys.stdout = _DropBanner(sys.stdout)   # behave prints the banner right after making the runner

    def run(self, *args, **kwargs):
        if isinstance(sys.stdout, _DropBanner):
            sys.stdout = self._stdout
        return super().run(*args, **kwargs)
