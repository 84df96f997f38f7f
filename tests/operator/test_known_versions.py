"""KnownVersions (T0): which watch events start no pass."""

from __future__ import annotations

from tradingbot_operator.known_versions import KnownVersions


def answer(name: str, version: str, namespace: str = "bots") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": version}}


def test_the_echo_of_an_own_write_is_known_and_a_newer_version_is_not() -> None:
    known = KnownVersions()
    known.wrote("deployments", answer("arb-green", "7"))
    assert known.seen("deployments", "bots", "arb-green", "7")
    assert not known.seen("deployments", "bots", "arb-green", "8")
    assert known.seen("deployments", "bots", "arb-green", "8")  # a re-listing of the same state


def test_unwatched_kinds_versionless_answers_and_none_are_never_known() -> None:
    known = KnownVersions()
    known.wrote("events", answer("arb.1", "3"))
    known.wrote("deployments", {"metadata": {"name": "arb-blue"}})
    known.wrote("deployments", {"status": "Success"})
    assert not known.seen("events", "bots", "arb.1", "3")
    assert not known.seen("deployments", "bots", "arb-blue", "1")
    assert not known.seen("tradingbots", "bots", "arb", None)
    assert not known.seen("tradingbots", "bots", "arb", None)


def test_forgetting_a_tradingbot_drops_its_children_but_not_other_namespaces() -> None:
    known = KnownVersions()
    for plural, name, namespace in (
        ("tradingbots", "arb", "bots"),
        ("deployments", "arb-blue", "bots"),
        ("services", "other", "bots"),
        ("tradingbots", "arb", "elsewhere"),
    ):
        known.wrote(plural, answer(name, "5", namespace))
    known.forget_tradingbot("bots", "arb")
    assert not known.seen("tradingbots", "bots", "arb", "5")
    assert not known.seen("deployments", "bots", "arb-blue", "5")
    assert known.seen("services", "bots", "other", "5")
    assert known.seen("tradingbots", "elsewhere", "arb", "5")
    known.forget_object("services", "bots", "other")
    assert not known.seen("services", "bots", "other", "5")
