"""One command's output read off its channel: lines as they come, memory that stays bounded."""

from __future__ import annotations

from infra.ops import channel
from infra.ops.channel import Lines
from infra.ops.transport import Stream


def test_lines_reach_the_sink_whole_and_a_last_one_without_newline_too() -> None:
    seen: list[tuple[Stream, str]] = []
    out = Lines("stdout", lambda s, line: seen.append((s, line)))
    for chunk in (b"one\r\ntw", b"o\n", b"three"):
        out.feed(chunk)
    assert out.finish() == "one\r\ntwo\nthree"
    assert seen == [("stdout", "one"), ("stdout", "two"), ("stdout", "three")]


def test_exec_of_a_flood_keeps_a_bounded_tail_and_every_line_reaches_the_sink() -> None:
    # `gpuform exec -- yes` for a minute: 100 MB must not all stay in memory.
    count = 0

    def sink(stream: Stream, line: str) -> None:
        nonlocal count
        count += 1

    out = Lines("stdout", sink)
    block = (b"x" * 999 + b"\n") * 1000
    for _ in range(100):
        out.feed(block)
        assert len(out.data) <= channel.KEEP_BYTES
    assert count == 100_000
    assert out.finish().endswith("x" * 999 + "\n")


def test_output_without_newlines_is_handed_on_in_pieces() -> None:
    # `gpuform exec -- cat /dev/zero`: no line ever ends.
    pieces: list[int] = []
    out = Lines("stdout", lambda s, line: pieces.append(len(line)))
    for _ in range(20):
        out.feed(b"\0" * (1 << 20))
        assert len(out.data) <= channel.KEEP_BYTES
    assert sum(pieces) == 20 * (1 << 20) - (len(out.data) - out._sent)
    assert set(pieces) == {channel.MAX_LINE}


def test_without_a_sink_the_last_bytes_are_kept() -> None:
    out = Lines("stdout", None)
    for i in range(20):
        out.feed(bytes([65 + i]) * (1 << 20))
    text = out.finish()
    assert len(text) == channel.KEEP_BYTES and text.endswith("T" * (1 << 20))
