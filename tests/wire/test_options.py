"""The option table is Scapy's, and every renderer and codec agrees on the spoken kinds."""

from __future__ import annotations

import pytest
from scapy.layers.inet import TCPOptions

from tcpconform.cases.model import OptionsSpec
from tcpconform.cases.notation import OPTION_NAMES, parse_segment, render_options
from tcpconform.tcp.options import BY_NAME, OPTIONS, SACK, SPOKEN
from tcpconform.tcp.segment import render_options as tcpdump_options
from tcpconform.wire.tcp import encode_options, parse_options


def test_the_table_names_scapys_kinds_with_scapys_layouts() -> None:
    scapy = {number: (name, fmt) for number, (name, fmt) in TCPOptions[0].items()}
    assert {o.number: o.name for o in OPTIONS} == {n: name for n, (name, _) in scapy.items()}
    for o in OPTIONS:
        fmt = scapy[o.number][1]
        assert (o.layout.format if o.layout else None) == (None if o.number == SACK else fmt), o.name
    assert {o.name for o in OPTIONS if o.valueless} == {"EOL", "NOP", "SAckOK"}


def test_every_spoken_kind_reads_back_as_written_and_renders_alike() -> None:
    text = "S 0:0(0) <mss 1460,sackOK,TS val 7 ecr 0,nop,wscale 7,sack 1:2 3:4,nop,eol>"
    spec = parse_segment(text)
    assert isinstance(spec.options, OptionsSpec)
    options = tuple((o.kind, o.value) for o in spec.options.items)
    assert {kind for kind, _ in options} == set(SPOKEN) == set(OPTION_NAMES)
    assert parse_options(encode_options(options)) == options
    assert render_options(spec.options) == tcpdump_options(options) == text[text.index("<"):]
    assert all(BY_NAME[kind].word for kind, _ in options)


@pytest.mark.parametrize("raw", ["0203ff", "030207ff", "0806000000000000", "020400"])
def test_an_option_of_the_wrong_size_for_its_kind_comes_back_as_it_was_received(raw: str) -> None:
    # An MSS 3 bytes long decodes to the MSS kind with the bytes it carried; encoding that again (the
    # responder's data-offset check does) gives the same bytes, where it once raised struct.error.
    data = bytes.fromhex(raw)
    data += b"\0" * (-len(data) % 4)
    assert encode_options(parse_options(data)) == data
