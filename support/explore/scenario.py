"""What the exploring steps do: run the exploration, say the seed and what was found, write explore.json
and each finding's transcript into the run folder, and fail with a report a team can paste into a ticket."""
from __future__ import annotations

from pathlib import Path

from support.explore.findings import write_explore_json

# The runs (and Hypothesis with them) are imported when an exploring scenario runs, not whenever behave
# loads the steps: every behave process would pay for them.

# Outcomes that break the promise about the answer itself; every other failure is about the conversation going on.
ABOUT_THE_ANSWER = ("no answer in time", "answer never finished", "empty answer with no error", "answer then error",
                    "error that says nothing", "answer not complete")


def _replay(context, tags: str, seed: int) -> str:
    s = context.settings
    backend = "-D backend=reference " if s.is_reference else ""
    database = s.explore_database or str(Path(context.run_folder) / "hypothesis")
    return (f"replay: behave {backend}--tags={tags} -D explore_seed={seed} -D explore_examples={s.explore_examples} "
            f"-D explore_database={database}")


def requests(context) -> None:
    from support.explore.engine import choose_seed
    from support.explore.requests_run import explore_requests
    s, say = context.settings, context.say
    seed = choose_seed(s)
    say(f"    exploring {s.explore_examples} generated questions and messages, {s.explore_connections} at a time "
        f"(seed {seed}; explore_examples, explore_seed, explore_budget)")
    run = explore_requests(s, context.dialect, Path(context.run_folder), seed)
    folder = Path(context.run_folder) / "explore" / "requests"
    entries = run.findings.write(folder, "generated questions", context.scenario.feature.name, s.dialect)
    context.explore = {"run": run, "entries": entries, "replay": _replay(context, "@explore_requests", seed)}
    say(f"    judged {run.findings.examples} frames in {run.seconds:.1f} s"
        + (f"; stopped at explore_budget={s.explore_budget:g} s" if run.out_of_time else ""))
    if entries:
        written = write_explore_json(Path(context.run_folder), entries)
        say(run.findings.report(entries, "generated frames", seed))
        say(f"    written: {written}\n    {context.explore['replay']}")


def assert_no_findings(context, about_the_answer: bool) -> None:
    found = context.explore
    mine = [e for e in found["entries"] if (e["outcome"] in ABOUT_THE_ANSWER) == about_the_answer]
    if mine:
        lines = [f"{len(mine)} distinct failure(s) (of {found['run'].findings.examples} generated frames, "
                 f"seed {found['run'].seed}):"]
        lines += [f"  {e['outcome']} {e['where']}: sent {e['wire'][:300]}\n"
                  f"    transcript: {e['transcript']}" for e in mine]
        raise AssertionError("\n".join(lines + [found["replay"],
                                                f"every failure: {Path(context.run_folder) / 'explore.json'}"]))


def conversations(context) -> None:
    from support.explore.conversations import explore_conversations
    from support.explore.engine import choose_seed, hypothesis_settings
    s, say = context.settings, context.say
    seed = choose_seed(s)
    runs = max(2, s.explore_examples // 20)
    say(f"    exploring {runs} generated conversations (seed {seed})")
    hsettings = hypothesis_settings(s, Path(context.run_folder), runs, stateful_step_count=8)
    found = explore_conversations(s, context.dialect, hsettings, seed)
    context.explore = {"found": found, "replay": _replay(context, "@explore_conversations", seed)}
    say(f"    {found.runs} conversations, {found.steps} steps")
    if found.failures:
        entries = [{"path": None, "outcome": failure.message.splitlines()[0], "steps": failure.steps,
                    "transcript": None} for failure in found.failures.values()]
        write_explore_json(Path(context.run_folder), entries)
        say(found.report())


def assert_conversations_kept(context) -> None:
    found = context.explore["found"]
    assert not found.failures, f"{found.report()}\n{context.explore['replay']}"
