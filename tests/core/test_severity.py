import pytest

from mamori.core.severity import Severity, UiSeverity

FALCO_NAMES = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[(name, Severity[name.upper()]) for name in FALCO_NAMES],
        ("WARNING", Severity.WARNING),
        ("Warning", Severity.WARNING),
        ("  notice\n", Severity.NOTICE),
        ("info", Severity.INFORMATIONAL),
        ("INFO", Severity.INFORMATIONAL),
        ("warn", Severity.WARNING),
        ("err", Severity.ERROR),
        ("crit", Severity.CRITICAL),
    ],
)
def test_parse_accepts_falco_names_and_aliases(text: str, expected: Severity) -> None:
    assert Severity.parse(text) is expected


@pytest.mark.parametrize("text", ["", "high", "fatal", "warningx", "7", "informational debug"])
def test_parse_rejects_unknown_names_and_lists_the_valid_ones(text: str) -> None:
    with pytest.raises(ValueError, match="unknown severity") as info:
        Severity.parse(text)
    for name in FALCO_NAMES:
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("severity", "ui"),
    [
        (Severity.EMERGENCY, UiSeverity.HIGH),
        (Severity.ALERT, UiSeverity.HIGH),
        (Severity.CRITICAL, UiSeverity.HIGH),
        (Severity.ERROR, UiSeverity.HIGH),
        (Severity.WARNING, UiSeverity.MEDIUM),
        (Severity.NOTICE, UiSeverity.LOW),
        (Severity.INFORMATIONAL, UiSeverity.INFORMATIONAL),
        (Severity.DEBUG, UiSeverity.INFORMATIONAL),
    ],
)
def test_ui_mapping(severity: Severity, ui: UiSeverity) -> None:
    assert severity.ui is ui
    assert severity in Severity.for_ui(ui)


def test_for_ui_partitions_all_priorities() -> None:
    seen = [s for ui in UiSeverity for s in Severity.for_ui(ui)]
    assert sorted(seen) == sorted(Severity)
    assert len(seen) == len(set(seen))


def test_order_is_falco_priority_order_most_severe_first() -> None:
    parsed = [Severity.parse(n) for n in FALCO_NAMES]
    assert parsed == sorted(parsed)
    assert Severity.EMERGENCY < Severity.WARNING < Severity.DEBUG
    assert min(Severity) is Severity.EMERGENCY


def test_ui_levels_keep_the_order_of_priorities() -> None:
    ranks = [max(Severity.for_ui(ui)) for ui in UiSeverity]
    assert ranks == sorted(ranks)


@pytest.mark.parametrize("severity", list(Severity))
def test_label_round_trips_through_parse(severity: Severity) -> None:
    assert severity.label[0].isupper()
    assert Severity.parse(severity.label) is severity
