"""Exploration: generated requests and conversations, judged by the protocol's properties.

- ``cases``: what a generated frame is (a valid request with at most one thing changed, a control
  frame, text that is not JSON, binary) and how it is written on the wire; pure.
- ``strategies``: Hypothesis strategies for those cases, valid requests from the request's own
  schema (hypothesis-jsonschema), and the systematic sweep; pure.
- ``probe``: sends one case on a fresh connection and judges it (``verdicts.probe_outcome``).
- ``findings``: groups failures by path and outcome, keeps the smallest, writes the report.
- ``requests_run``: drives the sweep and Hypothesis's search, shrinking each new failure.
- ``conversations``: a Hypothesis state machine of whole conversations.
"""
