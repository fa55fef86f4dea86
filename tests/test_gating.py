"""Which scenarios run: off by default, reference on request, live with RUN_MANUAL_TESTS."""
import pytest

from support.config import Settings
from support.gating import HOW_TO_ENABLE, backend_required_but_off, run_mode, skip_reason


@pytest.mark.parametrize("backend, environ, mode", [
    ("live", {}, "off"),
    ("live", {"RUN_MANUAL_TESTS": "0"}, "off"),
    ("live", {"RUN_MANUAL_TESTS": "1"}, "live"),
    ("live", {"RUN_MANUAL_TESTS": "yes"}, "live"),
    ("reference", {}, "reference"),
])
def test_run_mode(backend, environ, mode):
    assert run_mode(Settings(backend=backend), environ) == mode


def test_off_skips_everything_with_how_to_enable():
    assert skip_reason("off", ["chat"], can_restart=True) == HOW_TO_ENABLE
    assert "RUN_MANUAL_TESTS=1" in HOW_TO_ENABLE and "-D backend=reference" in HOW_TO_ENABLE


def test_requires_docker_runs_only_against_the_live_backend():
    assert "dockerised backend" in skip_reason("reference", ["requires_docker"], can_restart=True)
    assert skip_reason("live", ["requires_docker"], can_restart=False) is None


def test_requires_restart_needs_a_way_to_restart():
    assert "restart_command" in skip_reason("live", ["session", "requires_restart"], can_restart=False)
    assert skip_reason("live", ["requires_restart"], can_restart=True) is None
    assert skip_reason("reference", ["chat"], can_restart=True) is None


def test_the_image_scenario_runs_only_for_an_image_tool():
    assert skip_reason("live", ["tools", "image"], can_restart=False, tool_name="generate_image") is None
    assert "web_search is not an image tool" in skip_reason("live", ["tools", "image"], False, "web_search")
    assert "any is not an image tool" in skip_reason("reference", ["image"], False, "any")
    assert skip_reason("live", ["tools"], can_restart=False, tool_name="web_search") is None


@pytest.mark.parametrize("mode, require, environ, fails", [
    ("off", False, {}, False),                              # a developer's plain `behave`: skip, pass
    ("off", False, {"CI": "true"}, True),
    ("off", False, {"CI": "1"}, True),
    ("off", False, {"CI": "false"}, False),
    ("off", False, {"CI": "0"}, False),
    ("off", False, {"CI": ""}, False),
    ("off", True, {}, True),
    ("reference", True, {"CI": "true"}, False),             # a backend was asked for: nothing to guard
    ("live", False, {"CI": "true"}, False),
])
def test_a_run_with_no_backend_fails_in_ci_or_when_required(mode, require, environ, fails):
    reason = backend_required_but_off(mode, require, environ)
    assert (reason is not None) == fails, reason
    if fails:
        assert "-D backend=reference" in reason and "RUN_MANUAL_TESTS=1" in reason and "\n" not in reason


def test_the_reason_says_what_demanded_a_backend():
    assert "CI='true'" in backend_required_but_off("off", False, {"CI": "true"})
    assert "require_backend=true" in backend_required_but_off("off", True, {})
