"""accounts.core.policy: patterns, rule evaluation, reading signers from certificates."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.core.policy import (
    PatternError,
    Rule,
    Signer,
    evaluate,
    identity_matches,
    literal_prefix,
    validate_pattern,
)

GH = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/org/repo/.github/workflows/*@refs/tags/*"


def rule(identity: str, *, pattern: bool = False, **constraints: str) -> Rule:
    return Rule(id=1, issuer=GH, identity=identity, pattern=pattern, constraints=constraints)


@pytest.mark.parametrize(
    ("identity", "allowed"),
    [
        ("https://github.com/org/repo/.github/workflows/release.yml@refs/tags/v1.0", True),
        ("https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main", False),
        ("https://github.com/org/repo/.github/workflows/release.yml@refs/tags/a/b", False),
        ("https://github.com/org/repo/.github/workflows/@refs/tags/v1", False),
        ("https://github.com/org/repo2/.github/workflows/release.yml@refs/tags/v1", False),
        ("https://github.com/org/repo/.github/workflows/x.yml@refs/tags/v1@x", False),
        ("https://github.com/evil/org/repo/.github/workflows/x.yml@refs/tags/v1", False),
    ],
)
def test_workflow_pattern(identity: str, allowed: bool) -> None:
    validate_pattern(WORKFLOW)
    assert identity_matches(rule(WORKFLOW, pattern=True), identity) is allowed


def test_double_star_crosses_segments() -> None:
    pattern = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/**"
    validate_pattern(pattern)
    r = rule(pattern, pattern=True)
    assert identity_matches(r, pattern.replace("**", "release/1.0"))
    assert not identity_matches(r, pattern.replace("**", ""))


@pytest.mark.parametrize(
    "bad",
    [
        "https://*.github.com/org/*",
        "https://github.com*/x",
        "ftp://github.com/*",
        "*@example.com@evil.test",
        "alice@*.example.com",
        "*",
        "ab*",
        "https://github.com/org/***",
        "https://github.com/org/ *",
        "exact-without-star",
        "https://github.com*",
        "",
        "a" * 1025 + "*",
    ],
)
def test_patterns_refused(bad: str) -> None:
    with pytest.raises(PatternError):
        validate_pattern(bad)


@pytest.mark.parametrize(
    "good", ["*@example.com", "release-*@example.com", "https://gitlab.com/group/*//x"]
)
def test_patterns_accepted(good: str) -> None:
    validate_pattern(good)


def test_email_pattern_cannot_match_another_domain() -> None:
    r = rule("*@example.com", pattern=True)
    assert identity_matches(r, "alice@example.com")
    assert not identity_matches(r, "alice@evil.test@example.com")
    assert not identity_matches(r, "alice@example.com.evil.test")


def test_evaluate_names_the_rule_and_the_reasons() -> None:
    rules = [
        Rule(id=7, issuer=GH, identity=WORKFLOW, pattern=True, constraints={"source_ref": "x"}),
        Rule(id=8, issuer="https://other", identity="alice@example.com"),
    ]
    ok = Signer(identity=WORKFLOW.replace("*", "v1"), issuer=GH, extensions={"source_ref": "x"})
    decision = evaluate(rules, ok)
    assert decision.allowed and decision.rule is not None and decision.rule.id == 7
    wrong_ref = Signer(identity=ok.identity, issuer=GH, extensions={"source_ref": "y"})
    denied = evaluate(rules, wrong_ref)
    assert not denied.allowed
    assert "source_ref" in denied.reasons[0] and "issuer" in denied.reasons[1]
    assert evaluate([], ok).reasons == ("the project's allow-list is empty",)


def test_literal_prefix() -> None:
    assert literal_prefix(rule(WORKFLOW, pattern=True)) == WORKFLOW.split("*")[0]
    assert literal_prefix(rule("alice@example.com")) == "alice@example.com"


def _naive(pattern: str, text: str) -> bool:
    """Reference: a backtracking glob with the documented wildcard classes."""
    if not pattern:
        return not text
    if pattern.startswith("**"):
        stop = "@"
        rest = pattern[2:]
    elif pattern.startswith("*"):
        stop = "/@"
        rest = pattern[1:]
    else:
        return bool(text) and text[0] == pattern[0] and _naive(pattern[1:], text[1:])
    for i in range(1, len(text) + 1):
        if text[i - 1] in stop:
            break
        if _naive(rest, text[i:]):
            return True
    return False


_alphabet = st.sampled_from("ab/@.*")


@given(st.text(_alphabet, max_size=10), st.text(st.sampled_from("ab/@."), max_size=12))
def test_pattern_matches_reference(tail: str, text: str) -> None:
    pattern = "https://h/" + tail
    try:
        validate_pattern(pattern)
    except PatternError:
        return
    expected = _naive(pattern, "https://h/" + text)
    got = identity_matches(rule(pattern, pattern=True), "https://h/" + text)
    assert got is expected, (pattern, text, re.escape(pattern))
