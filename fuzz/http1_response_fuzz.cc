// Feeds the response parser the input whole and in random splits (fresh exact-size prefixes) and
// checks that it never reads out of bounds, never consumes more than it was given, reaches the
// same verdict either way, and that an accepted head has unambiguous framing.
#include <algorithm>
#include <string>

#include "fuzz_util.h"
#include "http/http1/response_parser.h"

using remora::fuzz::ExactCopy;
using remora::fuzz::SplitRng;
using namespace remora::http::http1;

namespace {

bool within(std::string_view outer, std::string_view inner) {
  return inner.empty() || (inner.data() >= outer.data() &&
                           inner.data() + inner.size() <= outer.data() + outer.size());
}

void checkHead(const ResponseHead& head, std::string_view data) {
  FUZZ_CHECK(head.status >= 100 && head.status <= 599);
  FUZZ_CHECK(head.version_minor <= 1);
  FUZZ_CHECK(within(data, head.reason));
  FUZZ_CHECK(!(head.chunked && head.content_length.has_value()));
  FUZZ_CHECK(!(head.chunked && head.version_minor == 0));
  if (head.status < 200 || head.status == 204) {
    FUZZ_CHECK(!head.chunked);
    // A 204 announcing a length is answered (it ends at its head) but its connection is never
    // reused; a 1xx announcing one is an error.
    if (head.content_length.value_or(0) != 0) FUZZ_CHECK(head.status == 204 && !head.keep_alive);
  }
  for (const auto& h : head.headers) {
    FUZZ_CHECK(within(data, h.name) && within(data, h.value));
    FUZZ_CHECK(!h.name.empty());
    for (char c : h.value) FUZZ_CHECK(c != '\r' && c != '\n' && c != '\0');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ExactCopy whole(data, size);
  ResponseParserLimits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 20;

  size_t offset = 0;
  SplitRng rng(data, size);
  for (int response = 0; response < 16 && offset < size; ++response) {
    std::string_view rest = whole.view().substr(offset);
    ResponseParser whole_parser(limits);
    ParseResult w = whole_parser.parse(rest);
    FUZZ_CHECK(w.consumed <= rest.size());
    if (w.status == ParseStatus::Done) {
      FUZZ_CHECK(w.consumed > 0);
      checkHead(whole_parser.head(), rest);
    }
    if (w.status == ParseStatus::Error) FUZZ_CHECK(w.code >= 400 && !w.reason.empty());

    ResponseParser split_parser(limits);
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
    const ResponseHead& a = whole_parser.head();
    const ResponseHead& b = split_parser.head();
    checkHead(b, prefix->view());
    FUZZ_CHECK(a.status == b.status && a.reason == b.reason);
    FUZZ_CHECK(a.headers.size() == b.headers.size());
    for (size_t i = 0; i < a.headers.size(); ++i) {
      FUZZ_CHECK(a.headers[i].name == b.headers[i].name);
      FUZZ_CHECK(a.headers[i].value == b.headers[i].value);
    }
    FUZZ_CHECK(a.content_length == b.content_length && a.chunked == b.chunked);
    FUZZ_CHECK(a.keep_alive == b.keep_alive);
    // 1xx heads are followed by the final head; skip a Content-Length body to reach the next.
    offset += w.consumed;
    if (a.content_length)
      offset += static_cast<size_t>(std::min<uint64_t>(*a.content_length, size));
    if (a.chunked) break;
  }
  return 0;
}
