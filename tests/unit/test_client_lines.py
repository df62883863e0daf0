"""The client's line reader (core.client.LineReader) reads a socket as readline would."""

import socket
import threading

from _socket import socket as c_socket

from core.client import LineReader


def _pair():
    ours, theirs = socket.socketpair()
    reader = c_socket(fileno=ours.detach())     # the client's kind of socket
    return LineReader(reader), theirs


def test_lines_come_whole_whatever_the_chunks():
    reader, peer = _pair()
    peer.sendall(b'{"a": 1}\n{"b"')
    assert reader.readline(100) == b'{"a": 1}\n'
    peer.sendall(b': 2}\n\n')
    assert reader.readline(100) == b'{"b": 2}\n'
    assert reader.readline(100) == b"\n"
    peer.close()
    assert reader.readline(100) == b""


def test_a_line_is_cut_at_the_limit_as_readline_cuts_it():
    reader, peer = _pair()
    peer.sendall(b"x" * 10 + b"\n" + b"y" * 9 + b"\n")
    assert reader.readline(10) == b"x" * 10                # no newline: too long
    assert reader.readline(10) == b"\n"
    assert reader.readline(10) == b"y" * 9 + b"\n"         # exactly the limit, newline included
    peer.close()


def test_what_came_before_the_peer_closed_is_the_last_line():
    reader, peer = _pair()
    peer.sendall(b"partial")
    peer.close()
    assert reader.readline(100) == b"partial"
    assert reader.readline(100) == b""


def test_a_big_line_sent_slowly_matches_the_stdlib_reader():
    line = b"".join(b"%d," % i for i in range(300_000)) + b"\n"
    reader, peer = _pair()
    ours, theirs = socket.socketpair()
    for sock in (peer, theirs):
        threading.Thread(target=sock.sendall, args=(line + b"next\n",), daemon=True).start()
    stdlib = ours.makefile("rb")
    assert reader.readline(1 << 24) == stdlib.readline(1 << 24) == line
    assert reader.readline(1 << 24) == stdlib.readline(1 << 24) == b"next\n"
    for sock in (peer, theirs, ours):
        sock.close()
