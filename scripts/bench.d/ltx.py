"""Reads Litestream 0.5's LTX files, so the bench can see which pastes a replica file holds.

An LTX file (github.com/superfly/ltx, as Litestream 0.5.17 writes it) is a 100-byte header,
then page frames, ended by a zero page number, then a page index and a trailer. A page frame
is a 4-byte page number, 2 bytes of flags (1: compressed), a 4-byte size and that many bytes
of the page as one LZ4 block. All numbers are big-endian. Only header and pages are read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_SIZE = 100
MAGIC = b"LTX1"
PAGE_FLAG_LZ4 = 0x0001


@dataclass
class LtxFile:
    page_size: int
    min_txid: int
    max_txid: int
    timestamp_ms: int
    pages: dict[int, bytes]

    def contains(self, needle: bytes) -> bool:
        return any(needle in page for page in self.pages.values())


def parse(data: bytes) -> LtxFile:
    if len(data) < HEADER_SIZE or data[:4] != MAGIC:
        raise ValueError("not an LTX file")
    page_size, _commit, min_txid, max_txid, timestamp_ms = struct.unpack_from(">IIQQq", data, 8)
    pages: dict[int, bytes] = {}
    position = HEADER_SIZE
    while True:
        (page_number,) = struct.unpack_from(">I", data, position)
        if page_number == 0:
            break
        flags, size = struct.unpack_from(">HI", data, position + 4)
        position += 10
        if flags != PAGE_FLAG_LZ4:
            raise ValueError(f"page {page_number}: unknown flags {flags:#06x}")
        page = bytearray()
        _lz4_block(data[position : position + size], page)
        position += size
        if len(page) != page_size:
            raise ValueError(f"page {page_number} is {len(page)} bytes, expected {page_size}")
        pages[page_number] = bytes(page)
    return LtxFile(page_size, min_txid, max_txid, timestamp_ms, pages)


def _lz4_length(nibble: int, block: bytes, i: int) -> tuple[int, int]:
    """A length from a token's nibble: 15 means more follows, one byte at a time, until a
    byte below 255. Returns the length and the position after it."""
    length = nibble
    if nibble == 15:
        while True:
            extra = block[i]
            i += 1
            length += extra
            if extra != 255:
                break
    return length, i


def _lz4_block(block: bytes, out: bytearray) -> None:
    """Appends the decoded LZ4 block to `out` (earlier output may be referenced)."""
    i, end = 0, len(block)
    while i < end:
        token = block[i]
        i += 1
        literals, i = _lz4_length(token >> 4, block, i)
        out += block[i : i + literals]
        i += literals
        if i >= end:
            break  # the last sequence has literals only
        offset = block[i] | (block[i + 1] << 8)
        i += 2
        length, i = _lz4_length(token & 15, block, i)
        length += 4
        start = len(out) - offset
        if start < 0 or offset == 0:
            raise ValueError("LZ4 match before the start of the output")
        if offset >= length:
            out += out[start : start + length]
        else:
            for k in range(length):  # overlapping match: repeats the last `offset` bytes
                out.append(out[start + k])
