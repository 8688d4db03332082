// Feeds the request parser the input whole and in random splits (growing, freshly allocated
// prefixes) and checks that it never reads out of bounds, never consumes more than it was given,
// and reaches the same verdict either way. Pipelined requests are parsed until the input ends.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "http/http1/request_parser.h"

using remora::fuzz::ExactCopy;
using remora::fuzz::SplitRng;
using namespace remora::http::http1;

namespace {

bool within(std::string_view outer, std::string_view inner) {
  return inner.empty() || (inner.data() >= outer.data() &&
                           inner.data() + inner.size() <= outer.data() + outer.size());
}

void checkHead(const RequestHead& head, std::string_view data) {
  FUZZ_CHECK(within(data, head.method));
  FUZZ_CHECK(within(data, head.target));
  FUZZ_CHECK(!head.method.empty() && !head.target.empty());
  FUZZ_CHECK(head.version_minor <= 1);
  FUZZ_CHECK(!(head.chunked && head.content_length.has_value()));
  FUZZ_CHECK(head.version_minor == 0 || head.has_host);
  for (const auto& h : head.headers) {
    FUZZ_CHECK(within(data, h.name) && within(data, h.value));
    FUZZ_CHECK(!h.name.empty());
    for (char c : h.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ExactCopy whole(data, size);
  RequestParserLimits limits;
  limits.max_head_bytes = 4096;  // small enough for the fuzzer to reach the limit paths
  limits.max_headers = 20;

  size_t offset = 0;
  SplitRng rng(data, size);
  for (int request = 0; request < 16 && offset < size; ++request) {
    std::string_view rest = whole.view().substr(offset);
    RequestParser whole_parser(limits);
    ParseResult w = whole_parser.parse(rest);
    FUZZ_CHECK(w.consumed <= rest.size());
    if (w.status == ParseStatus::Done) {
      FUZZ_CHECK(w.consumed > 0);
      checkHead(whole_parser.head(), rest);
    }
    if (w.status == ParseStatus::Error) FUZZ_CHECK(w.code >= 400 && !w.reason.empty());

    // The same bytes in pieces: each call sees a new exact-size prefix at a new address.
    RequestParser split_parser(limits);
    ParseResult s;
    size_t fed = 0;
    std::unique_ptr<ExactCopy> prefix;
    while (fed < rest.size()) {
      fed += rng.next(rest.size() - fed);
      prefix = std::make_unique<ExactCopy>(reinterpret_cast<const uint8_t*>(rest.data()), fed);
      s = split_parser.parse(prefix->view());
      FUZZ_CHECK(s.consumed <= fed);
      if (s.status != ParseStatus::NeedMore) break;
    }
    FUZZ_CHECK(s.status == w.status);
    FUZZ_CHECK(s.code == w.code);
    FUZZ_CHECK(s.consumed == w.consumed);
    if (w.status != ParseStatus::Done) break;
    const RequestHead& a = whole_parser.head();
    const RequestHead& b = split_parser.head();
    checkHead(b, prefix->view());
    FUZZ_CHECK(a.method == b.method && a.target == b.target && a.host == b.host);
    FUZZ_CHECK(a.headers.size() == b.headers.size());
    for (size_t i = 0; i < a.headers.size(); ++i) {
      FUZZ_CHECK(a.headers[i].name == b.headers[i].name);
      FUZZ_CHECK(a.headers[i].value == b.headers[i].value);
    }
    FUZZ_CHECK(a.content_length == b.content_length && a.chunked == b.chunked);
    FUZZ_CHECK(a.keep_alive == b.keep_alive);
    // Skip a Content-Length body so pipelined requests after it are parsed too.
    offset += w.consumed;
    if (a.content_length)
      offset += static_cast<size_t>(std::min<uint64_t>(*a.content_length, size));
    if (a.chunked) break;
  }
  return 0;
}
