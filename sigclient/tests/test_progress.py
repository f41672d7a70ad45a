"""The progress display of `sigclient sign` over many files."""

from __future__ import annotations

import io

from sigclient.cli import _ProgressBar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_a_file() -> None:
    stream = io.StringIO()
    bar = _ProgressBar(stream)
    bar(1, 2, "signed a -> a.sigstore.json")
    bar(2, 2, "signed b -> b.sigstore.json")
    assert stream.getvalue().splitlines() == [
        "signed a -> a.sigstore.json (1/2)",
        "signed b -> b.sigstore.json (2/2)",
    ]


def test_a_terminal_gets_one_bar_redrawn_in_place() -> None:
    stream = _Terminal()
    bar = _ProgressBar(stream)
    for done in range(1, 5):
        bar(done, 4, f"signed f{done}")
    frames = stream.getvalue().split("\r")[1:]
    assert len(frames) == 4 and stream.getvalue().count("\n") == 1
    assert frames[0].startswith("[" + "#" * 7 + "." * 23 + "] 1/4 signed f1")
    assert frames[-1].startswith("[" + "#" * 30 + "] 4/4 signed f4")
