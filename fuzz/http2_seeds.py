#!/usr/bin/env python3
"""Writes the seed corpus of http2_server_fuzz (fuzz/corpus/http2_server_fuzz/): valid exchanges
and hostile ones, each as byte 0 = the decoder knobs of fuzz/http2_server_fuzz.cc and then what a
client sends after the connection preface. Run it again after changing the knobs or the frames;
the corpus is committed so CI fuzzes from the same start.
    usage: fuzz/http2_seeds.py [output dir]"""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "integration"))

from h2_frames import (CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, PING,  # noqa
                       PRIORITY, RST_STREAM, SETTINGS, WINDOW_UPDATE, ACK, CANCEL, frame,
                       header_block, headers_frame, settings_frame)

# The knob bits of http2_server_fuzz.cc.
ANSWER_ON_HEADERS, ANSWER_ON_END, BIG_BODIES, PAUSE, RESET_SOME, GOAWAY_KNOB, WATERMARKS, \
    SMALL = (1 << i for i in range(8))
PADDED, PRIORITY_FLAG = 0x8, 0x20

GET = [(":method", "GET"), (":scheme", "http"), (":authority", "example.com"), (":path", "/")]


def post(path="/upload", extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":authority", "example.com"),
            (":path", path)] + list(extra)


def data(stream, payload, end=False, flags=0):
    return frame(DATA, flags | (END_STREAM if end else 0), stream, payload)


def window_update(stream, increment):
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


def rst(stream, code):
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def ping(payload=b"12345678", ack=False):
    return frame(PING, ACK if ack else 0, 0, payload)


def goaway(last, code=0):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last, code))


def small_headers(stream, pairs, end_stream=True):
    """A header block for the kSmallLimits knob: once its SETTINGS are acknowledged the server's
    HPACK table is 256 bytes, which every block must first acknowledge with a dynamic table size
    update (RFC 7541 §4.2), or it is a COMPRESSION_ERROR."""
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream,
                 b"\x3f\xe1\x01" + header_block(pairs))


SETTINGS_ACK = frame(SETTINGS, ACK, 0)
HELLO = settings_frame() + SETTINGS_ACK
ANSWER = ANSWER_ON_END


def seeds():
    s = {}
    # ---- valid exchanges ----
    s["get_simple"] = (ANSWER, HELLO + headers_frame(1, GET))
    s["get_answer_early"] = (ANSWER_ON_HEADERS, HELLO + headers_frame(1, GET))
    s["post_body"] = (ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                      data(1, b"hello ") + data(1, b"world", end=True))
    s["post_content_length"] = (ANSWER, HELLO + headers_frame(
        1, post(extra=[("content-length", "11")]), end_stream=False) + data(1, b"hello world",
                                                                            end=True))
    s["post_trailers"] = (ANSWER | BIG_BODIES, HELLO + headers_frame(
        1, post(extra=[("te", "trailers"), ("content-type", "application/grpc")]),
        end_stream=False) + data(1, b"\0\0\0\0\x02hi") +
        headers_frame(1, [("grpc-status", "0"), ("x-trailer", "t")]))
    s["many_streams"] = (ANSWER, HELLO + b"".join(
        headers_frame(i, post(f"/s{i}"), end_stream=False) for i in (1, 3, 5, 7)) + b"".join(
        data(i, b"x" * i, end=True) for i in (7, 5, 3, 1)))
    s["ping"] = (ANSWER, HELLO + ping() + ping(b"abcdefgh", ack=True) + headers_frame(1, GET))
    # Big responses need the client's window: SETTINGS_INITIAL_WINDOW_SIZE and WINDOW_UPDATEs.
    s["window_updates"] = (ANSWER | BIG_BODIES, settings_frame([(4, 1 << 20)]) + SETTINGS_ACK +
                           headers_frame(1, GET) + headers_frame(3, GET) +
                           window_update(0, 1 << 20) + window_update(1, 40000) +
                           window_update(3, 70000) + window_update(1, 100000))
    s["small_window_then_grow"] = (ANSWER | BIG_BODIES, settings_frame([(4, 100)]) +
                                   SETTINGS_ACK + headers_frame(1, GET) +
                                   settings_frame([(4, 200000)]) + window_update(0, 300000))
    s["rst_stream"] = (ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                       data(1, b"partial") + rst(1, CANCEL) + headers_frame(3, GET))
    s["client_goaway"] = (ANSWER, HELLO + headers_frame(1, GET) + goaway(0))
    s["continuation"] = (ANSWER, HELLO + frame(HEADERS, END_STREAM, 1, header_block(GET[:2])) +
                         frame(CONTINUATION, END_HEADERS, 1, header_block(GET[2:])))
    s["padded_and_priority"] = (ANSWER, HELLO + frame(
        HEADERS, END_HEADERS | PADDED | PRIORITY_FLAG, 1,
        b"\x03" + struct.pack(">IB", 0, 15) + header_block(post()) + b"\0\0\0") +
        frame(PRIORITY, 0, 3, struct.pack(">IB", 1, 200)) +
        data(1, b"\x02ab\0\0", end=True, flags=PADDED))
    # HPACK: a literal with incremental indexing, then the same field by index (62).
    indexed = b"\x82\x86\x84" + b"\x41\x0bexample.com"
    s["hpack_dynamic_table"] = (ANSWER, HELLO + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                                      indexed) +
                                frame(HEADERS, END_HEADERS | END_STREAM, 3, b"\x82\x86\x84\xbe"))
    s["paused_upload"] = (PAUSE | ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                          data(1, b"a" * 3000) + data(1, b"b" * 3000) +
                          headers_frame(1, [("x-trailer", "1")]))
    s["reset_some"] = (RESET_SOME | ANSWER, HELLO + b"".join(
        headers_frame(i, post(), end_stream=False) + data(i, b"zz", end=True)
        for i in (1, 3, 5, 7, 9)))
    s["server_goaway"] = (GOAWAY_KNOB | ANSWER, HELLO + headers_frame(1, GET) +
                          headers_frame(3, GET))
    s["watermarks"] = (WATERMARKS | BIG_BODIES | ANSWER_ON_HEADERS, HELLO + headers_frame(1, GET) +
                       window_update(0, 1 << 20) + window_update(1, 1 << 20) + ping() + ping())
    s["small_limits_upload"] = (SMALL | PAUSE | ANSWER, HELLO + small_headers(
        1, post(), end_stream=False) + data(1, b"q" * 1024) + data(1, b"", end=True))
    # ---- hostile ----
    s["h_data_on_stream_0"] = (ANSWER, HELLO + data(0, b"x"))
    s["h_headers_even_stream"] = (ANSWER, HELLO + headers_frame(2, GET))
    s["h_uppercase_name"] = (ANSWER, HELLO + headers_frame(1, GET + [("X-Upper", "1")]))
    s["h_missing_path"] = (ANSWER, HELLO + headers_frame(1, GET[:3]) + headers_frame(3, GET))
    s["h_connection_header"] = (ANSWER, HELLO + headers_frame(1, GET + [("connection", "close")]))
    s["h_te_gzip"] = (ANSWER, HELLO + headers_frame(1, GET + [("te", "gzip")]))
    s["h_host_and_authority"] = (ANSWER, HELLO + headers_frame(1, GET + [("host", "other")]))
    s["h_content_length_mismatch"] = (ANSWER, HELLO + headers_frame(
        1, post(extra=[("content-length", "3")]), end_stream=False) + data(1, b"toolong",
                                                                           end=True))
    s["h_window_overflow"] = (ANSWER, HELLO + window_update(0, 0x7fffffff) +
                              window_update(0, 0x7fffffff))
    s["h_stream_window_overflow"] = (ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                                     window_update(1, 0x7fffffff) + window_update(1, 0x7fffffff))
    s["h_window_zero"] = (ANSWER, HELLO + headers_frame(1, GET) + window_update(1, 0))
    s["h_settings_bad_window"] = (ANSWER, settings_frame([(4, 0x80000000)]))
    s["h_settings_bad_push"] = (ANSWER, settings_frame([(2, 2)]))
    s["h_settings_bad_length"] = (ANSWER, frame(SETTINGS, 0, 0, b"\0\x04\0\0\0"))
    s["h_settings_ack_payload"] = (ANSWER, HELLO + frame(SETTINGS, ACK, 0, b"\0" * 6))
    s["h_frame_too_large"] = (ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                              data(1, b"y" * 20000))
    s["h_interleaved_continuation"] = (ANSWER, HELLO + frame(HEADERS, 0, 1, header_block(GET)) +
                                       data(1, b"x"))
    s["h_rst_idle"] = (ANSWER, HELLO + rst(5, CANCEL))
    s["h_hpack_bad_index"] = (ANSWER, HELLO + frame(HEADERS, END_HEADERS | END_STREAM, 1,
                                                    b"\x82\xff\x50"))
    s["h_too_many_streams"] = (SMALL, HELLO + b"".join(
        small_headers(i, GET, end_stream=False) for i in range(1, 20, 2)))
    s["h_header_list_too_big"] = (SMALL | ANSWER, HELLO + small_headers(
        1, GET + [("x-big", "v" * 1500)]) + small_headers(3, GET))
    s["h_small_table_no_size_update"] = (SMALL | ANSWER, HELLO + headers_frame(1, GET))
    s["h_too_many_headers"] = (ANSWER, HELLO + headers_frame(
        1, GET + [(f"x-h{i}", "1") for i in range(30)]) + headers_frame(3, GET))
    s["h_ping_flood"] = (ANSWER, HELLO + ping() * 2000)
    s["h_settings_flood"] = (ANSWER, settings_frame([(3, 100)]) * 1500)
    s["h_lower_stream_id"] = (ANSWER, HELLO + headers_frame(5, GET) + headers_frame(3, GET))
    s["h_data_after_end"] = (ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                             data(1, b"a", end=True) + data(1, b"b"))
    s["h_padding_too_long"] = (ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                               frame(DATA, PADDED, 1, b"\x09abc"))
    s["h_self_dependency"] = (ANSWER, HELLO + frame(PRIORITY, 0, 1, struct.pack(">IB", 1, 0)))
    s["h_trailers_without_end"] = (ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                                   headers_frame(1, [("x-t", "1")], end_stream=False))
    s["h_pseudo_in_trailers"] = (ANSWER, HELLO + headers_frame(1, post(), end_stream=False) +
                                 headers_frame(1, [(":path", "/x")]))
    s["h_flow_control_violation"] = (SMALL | PAUSE, HELLO + small_headers(
        1, post(), end_stream=False) + data(1, b"w" * 4000))
    s["h_second_preface"] = (ANSWER, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    s["h_unknown_frame_type"] = (ANSWER, HELLO + frame(0x42, 0xff, 1, b"ext") +
                                 headers_frame(1, GET))
    s["h_goaway_then_headers"] = (ANSWER, HELLO + goaway(0) + headers_frame(1, GET))
    s["h_rst_then_data"] = (ANSWER_ON_HEADERS | PAUSE, HELLO + headers_frame(
        1, post(), end_stream=False) + rst(1, CANCEL) + data(1, b"late", end=True))
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "http2_server_fuzz")
    os.makedirs(out, exist_ok=True)
    for name, (knobs, payload) in seeds().items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([knobs]) + payload)
    print(f"{len(seeds())} seeds in {out}")


if __name__ == "__main__":
    main()
