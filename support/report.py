"""What a scenario leaves behind: the event flow printed, the whole-transcript verdict, and the
whole transcript as JSON.

Human notes (flows, notices, skip reasons) go to stderr through ``say`` so that stdout carries
only what behave's formatters write (``behave -f json`` stays valid JSON).

For report formatters, every scenario that ran carries ``scenario.chat_suite`` (see ``attach``).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from behave.reporter.summary import AbstractSummaryReporter

from support import rules, verdicts
from support.secrets import mask
from support.transcript import Transcript
from support.transcript_file import Checked, findings
from support.transcript_view import flow

# The generated last step of every scenario that runs (environment.py adds it, steps/protocol_check_steps.py
# runs it): a broken rule fails this step, so every formatter reports a failed scenario with the rule's text.
CLOSING_STEP = "the whole conversation keeps the protocol"



_said = [""]   # the last note said


def say(text: str) -> None:
    """A note for the person watching: the real stderr (behave captures sys.stderr inside steps, which
    would hide notes of passing steps), after whatever the formatter has written so far."""
    for out in (sys.stdout, sys.__stdout__):
        if out is not None:
            out.flush()
    print(mask(text), file=sys.__stderr__ or sys.stderr, flush=True)   # a URL's password too (ws://user:pw@host)
    _said[0] = text


def just_said(text: str) -> bool:
    """Did the last note end with this text (a hook that said its reason before aborting)?"""
    return bool(text) and _said[0].endswith(text)


MACHINE_FORMATS = ("json", "json.pretty", "rerun")
MARKER = ".written-by-chat-suite"


def machine_output_on_stdout(formats: list[str], outputs: list) -> bool:
    """Does a machine-read formatter write to stdout (no -o of its own, or -o -)?"""
    for i, name in enumerate(formats):
        output = outputs[i] if i < len(outputs) else None
        if name in MACHINE_FORMATS and getattr(output, "name", None) in (None, "-"):
            return True
    return False


def keep_stdout_for_formatters(config) -> None:
    """behave's summary goes to stdout; move it to stderr when stdout carries e.g. JSON."""
    if machine_output_on_stdout(list(config.format or []), list(config.outputs or [])):
        for reporter in config.reporters:
            if isinstance(reporter, AbstractSummaryReporter):
                reporter.stream = sys.stderr


def open_run_folder(reports_dir: str) -> Path:
    """A new folder for this run's transcripts (reports/<run id>/), never one an earlier run wrote.
    Raises OSError when the folder cannot be written (a setting to fix). ``point_latest_at`` publishes it
    once the run has a backend; ``discard_run_folder`` removes it when the run stops before that."""
    root = Path(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(100):
        folder = root / (f"{stamp}-{os.getpid()}" + (f"-{attempt}" if attempt else ""))
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    else:
        raise OSError(f"could not make a new run folder in {root}")
    (folder / MARKER).write_text("this run's transcripts\n")   # proves the folder is writable
    return folder


def point_latest_at(folder: Path) -> None:
    """reports/latest names this run's folder (atomically: a reader never sees it missing)."""
    root = folder.parent
    try:
        temporary = root / f".latest-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(folder.name)
        os.replace(temporary, root / "latest")
    except OSError:
        pass   # a file system without symlinks: the run folder is still named in the output


def discard_run_folder(folder: Path) -> None:
    """Remove the folder of a run that stopped before its first scenario (it holds only the marker)."""
    try:
        (folder / MARKER).unlink(missing_ok=True)
        folder.rmdir()
    except OSError:
        pass   # something else wrote there: leave it


def check_all(transcripts: list[Transcript], strict: bool) -> Checked:
    """Every whole-transcript rule over every connection: (transcript, findings incl. notices)."""
    return [(tr, rules.check(tr, strict=strict)) for tr in transcripts]


def explain_broken(checked: Checked) -> str:
    """The violations (not notices) explained per connection; empty when every rule held."""
    broken = [(tr, verdicts.violations_only(found)) for tr, found in checked]
    return "\n".join(verdicts.explain(bad, tr) for tr, bad in broken if bad)


def flow_lines(transcripts: list[Transcript]) -> list[str]:
    return [f"    {tr.name}: {flow(tr) or '(nothing received)'}" for tr in transcripts]


def notices(checked: Checked) -> list[str]:
    """The notices among already-checked results (reported, not failing)."""
    return [f"    notice on {tr.name}: {v.message} (#{v.seq})"
            for tr, found in checked for v in found if v.severity == rules.NOTICE]


def attach(scenario, path: Path, checked: Checked, status: str) -> dict:
    """Put what report formatters need on the scenario, as ``scenario.chat_suite``:

    - ``transcripts_path`` (str): the transcript JSON of this scenario (written by ``transcript_file.write_json``)
    - ``transcripts`` (list of support.transcript.Transcript): every connection, in the order opened;
      each has ``.name`` and ``.entries`` (seq, t in seconds, direction, kind, label, raw, ...);
      support.transcript_view turns one into lines (``flow``) or JSON (``to_json``)
    - ``violations`` (list of dict): every finding of the whole-transcript check, notices included:
      ``{"connection", "rule", "seq", "message", "severity": "violation" | "notice"}``
    - ``status`` (str): the scenario's final status name ("passed", "failed", ...)

    Set by after_scenario for every scenario that ran (not for skipped ones), so a formatter sees it
    from its next ``scenario()``/``eof()`` call on.
    """
    scenario.chat_suite = {"transcripts_path": str(path), "transcripts": [tr for tr, _ in checked],
                           "violations": findings(checked), "status": status}
    return scenario.chat_suite
