// The listener inspectors' parsers: the TLS ClientHello reader (tls_inspector) and the HTTP
// request-line / h2c preface detector (http_inspector), on hand-built bytes split every way.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "filters/listener/inspect/http_request_line.h"
#include "filters/listener/inspect/tls_client_hello.h"

namespace remora::filters::listener::inspect {
namespace {

std::string u16(size_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
std::string u24(size_t v) { return static_cast<char>(v >> 16) + u16(v & 0xffff); }
std::string vec8(const std::string& s) { return static_cast<char>(s.size()) + s; }
std::string vec16(const std::string& s) { return u16(s.size()) + s; }
std::string ext(uint16_t type, const std::string& body) { return u16(type) + vec16(body); }

std::string sniExt(const std::string& name) {
  return ext(0, vec16(std::string(1, '\0') + vec16(name)));
}
std::string alpnExt(const std::vector<std::string>& protocols) {
  std::string list;
  for (const auto& p : protocols) list += vec8(p);
  return ext(16, vec16(list));
}

// A ClientHello handshake message (header included) with the given extensions block.
std::string helloMessage(const std::string& extensions, bool with_extensions = true) {
  std::string body = u16(0x0303) + std::string(32, 'r') + vec8(std::string(32, 's')) +
                     vec16(std::string("\x13\x01\x13\x02", 4)) + vec8(std::string(1, '\0'));
  if (with_extensions) body += vec16(extensions);
  return std::string(1, '\x01') + u24(body.size()) + body;
}

// `message` in TLS records of at most `fragment` payload bytes each.
std::string records(const std::string& message, size_t fragment = 16384) {
  std::string out;
  for (size_t i = 0; i < message.size(); i += fragment) {
    std::string piece = message.substr(i, fragment);
    out += std::string("\x16\x03\x01", 3) + u16(piece.size()) + piece;
  }
  return out;
}

TEST(ClientHelloTest, FindsSniAndAlpn) {
  const std::string wire = records(helloMessage(sniExt("reviews.default.svc") +
                                                ext(10, std::string("\x00\x02\x00\x1d", 4)) +
                                                alpnExt({"h2", "http/1.1"})));
  ClientHello hello = parseClientHello(wire);
  ASSERT_EQ(hello.verdict, ClientHello::Verdict::Tls);
  EXPECT_EQ(hello.server_name, "reviews.default.svc");
  EXPECT_EQ(hello.application_protocols, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(hello.bytes_used, wire.size());
  // Bytes after the hello (the client's next flight) do not matter.
  EXPECT_EQ(parseClientHello(wire + "\x17\x03\x03").verdict, ClientHello::Verdict::Tls);
}

TEST(ClientHelloTest, EveryPrefixNeedsMoreAndFragmentedRecordsAreJoined) {
  for (size_t fragment : {16384u, 7u, 1u}) {
    const std::string wire =
        records(helloMessage(sniExt("a.example.com") + alpnExt({"h2"})), fragment);
    for (size_t n = 0; n < wire.size(); ++n) {
      ASSERT_EQ(parseClientHello(wire.substr(0, n)).verdict, ClientHello::Verdict::NeedMore)
          << "fragment " << fragment << " prefix " << n;
    }
    ClientHello hello = parseClientHello(wire);
    ASSERT_EQ(hello.verdict, ClientHello::Verdict::Tls) << fragment;
    EXPECT_EQ(hello.server_name, "a.example.com");
  }
}

TEST(ClientHelloTest, NoExtensionsIsTlsWithoutSniOrAlpn) {
  ClientHello hello = parseClientHello(records(helloMessage("", false)));
  ASSERT_EQ(hello.verdict, ClientHello::Verdict::Tls);
  EXPECT_TRUE(hello.server_name.empty());
  EXPECT_TRUE(hello.application_protocols.empty());
}

TEST(ClientHelloTest, PlaintextIsRejectedFromItsFirstByte) {
  EXPECT_EQ(parseClientHello("G").verdict, ClientHello::Verdict::NotTls);
  EXPECT_EQ(parseClientHello("GET / HTTP/1.1\r\n").verdict, ClientHello::Verdict::NotTls);
  EXPECT_EQ(parseClientHello(std::string("\x16\x02", 2)).verdict, ClientHello::Verdict::NotTls);
  // Another record type (alert) or handshake message (ServerHello) is not a ClientHello.
  EXPECT_EQ(parseClientHello(std::string("\x15\x03\x03\x00\x02\x02\x28", 7)).verdict,
            ClientHello::Verdict::NotTls);
  std::string server_hello = helloMessage("");
  server_hello[0] = 2;
  EXPECT_EQ(parseClientHello(records(server_hello)).verdict, ClientHello::Verdict::NotTls);
}

TEST(ClientHelloTest, MalformedHellosAreNotTls) {
  // Extension lengths that overrun, duplicate extensions, an empty SNI, an empty ALPN name,
  // an empty record, an oversized record.
  std::string overrun = helloMessage(ext(0, std::string("\x00\x10\x00", 3)));
  EXPECT_EQ(parseClientHello(records(overrun)).verdict, ClientHello::Verdict::NotTls);
  EXPECT_EQ(parseClientHello(records(helloMessage(alpnExt({"h2"}) + alpnExt({"h2"})))).verdict,
            ClientHello::Verdict::NotTls);
  EXPECT_EQ(parseClientHello(records(helloMessage(sniExt("")))).verdict,
            ClientHello::Verdict::NotTls);
  EXPECT_EQ(parseClientHello(records(helloMessage(alpnExt({"h2", ""})))).verdict,
            ClientHello::Verdict::NotTls);
  EXPECT_EQ(parseClientHello(std::string("\x16\x03\x01\x00\x00", 5)).verdict,
            ClientHello::Verdict::NotTls);
  EXPECT_EQ(parseClientHello(std::string("\x16\x03\x01\x40\x01", 5)).verdict,
            ClientHello::Verdict::NotTls);
  // A hello whose length field disagrees with its contents (trailing garbage inside).
  std::string message = helloMessage(alpnExt({"h2"}));
  std::string padded = message + "xx";
  padded.replace(1, 3, u24(padded.size() - 4));
  EXPECT_EQ(parseClientHello(records(padded)).verdict, ClientHello::Verdict::NotTls);
}

TEST(ClientHelloTest, AHelloBeyond64KiBIsTooLarge) {
  // Announced larger than the bound: decided at once, without waiting for the bytes.
  std::string header = std::string("\x16\x03\x01", 3) + u16(16384) + "\x01" + u24(70000);
  EXPECT_EQ(parseClientHello(header).verdict, ClientHello::Verdict::TooLarge);
  // Just under the bound (records' headers included) is still read.
  const std::string padding = ext(21, std::string(60000, '\0'));
  ClientHello big = parseClientHello(records(helloMessage(sniExt("big.example") + padding)));
  EXPECT_EQ(big.verdict, ClientHello::Verdict::Tls);
  EXPECT_EQ(big.server_name, "big.example");
}

TEST(HttpDetectTest, RequestLinesAndPreface) {
  EXPECT_EQ(detectHttp("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), HttpVerdict::Http11);
  EXPECT_EQ(detectHttp("POST /a?b=c HTTP/1.0\r\n"), HttpVerdict::Http10);
  EXPECT_EQ(detectHttp("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), HttpVerdict::H2c);
  EXPECT_EQ(httpVerdictProtocol(HttpVerdict::H2c), "h2c");
  EXPECT_EQ(httpVerdictProtocol(HttpVerdict::Http11), "http/1.1");
  EXPECT_EQ(httpVerdictProtocol(HttpVerdict::Http10), "http/1.0");
}

TEST(HttpDetectTest, PrefixesWaitAndGarbageIsRejectedEarly) {
  for (std::string full : {"GET /index.html HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"}) {
    for (size_t n = 0; n < full.size(); ++n) {
      EXPECT_EQ(detectHttp(full.substr(0, n)), HttpVerdict::NeedMore) << full.substr(0, n);
    }
  }
  EXPECT_EQ(detectHttp(std::string("\x16\x03\x01", 3)), HttpVerdict::NotHttp);
  EXPECT_EQ(detectHttp(" GET"), HttpVerdict::NotHttp);
  EXPECT_EQ(detectHttp("GET  /"), HttpVerdict::NotHttp);
  EXPECT_EQ(detectHttp("GET / HTTP/2.0\r\n"), HttpVerdict::NotHttp);
  EXPECT_EQ(detectHttp("GET / HTTP/1.1\n"), HttpVerdict::NotHttp);
  EXPECT_EQ(detectHttp("SSH-2.0-OpenSSH_9.6\r\n"), HttpVerdict::NotHttp);
  // An endless method or target: undecided at the inspector's bound means not HTTP.
  EXPECT_EQ(detectHttp(std::string(kMaxHttpInspectSize, 'G')), HttpVerdict::NotHttp);
  EXPECT_EQ(detectHttp("GET /" + std::string(kMaxHttpInspectSize, 'a')), HttpVerdict::NotHttp);
}

}  // namespace
}  // namespace remora::filters::listener::inspect
