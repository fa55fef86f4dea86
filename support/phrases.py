"""The words scenarios may use for a step's parameter, and what each means to the suite.

Each table becomes a behave type (register_type), so a phrase that is not in a table is an
undefined step at `behave --dry-run`, not a KeyError at run time. Steps import this module.
"""
from __future__ import annotations

from behave import register_type
from parse_type import TypeBuilder

DROP = "drop"   # customer number left out of the request altogether

TOKENS = {  # phrase -> support.tokens kind
    "no token": "missing",
    "a garbled token": "malformed",
    "an expired token": "expired",
    "a token signed with the wrong secret": "wrong_secret",
    "a token with no signature": "alg_none",
    "a token that does not say who I am": "missing_id",
}
MODES = {"proactive": "proactive", "realtime": "realtime"}
TOKEN_PLACES = {"in the web address": "query",                                # ?token=
                "in the sign-in field of the connection request": "header"}   # Authorization: Bearer
CUSTOMER_NUMBERS = {"a word": "abc", "a negative number": -1, "zero": 0, "empty": "", "missing": DROP}
ORDER_RULES = {"written answer": "text", "spoken answer": "speech", "answer with its tool": "tool"}   # matchers.RULE_GROUPS
PEOPLE = ("Alice", "Bob")   # Alice is the suite's customer (customer_id), Bob the other one (other_customer_id)

register_type(
    Token=TypeBuilder.make_enum(TOKENS),
    Mode=TypeBuilder.make_enum(MODES),
    TokenPlace=TypeBuilder.make_enum(TOKEN_PLACES),
    CustomerNumber=TypeBuilder.make_enum(CUSTOMER_NUMBERS),
    OrderRules=TypeBuilder.make_enum(ORDER_RULES),
    Person=TypeBuilder.make_choice(list(PEOPLE)),
)
