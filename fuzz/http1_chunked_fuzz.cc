// Decodes the input as a chunked body whole and in random splits (each piece a fresh exact-size
// allocation) and checks that both see the same body, trailers and verdict, and that the decoder
// never claims more bytes than it was given.
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "http/http1/chunked_decoder.h"

using remora::fuzz::ExactCopy;
using remora::fuzz::SplitRng;
using namespace remora::http::http1;

namespace {

struct Collect : ChunkedDecoder::Callbacks {
  explicit Collect(std::string_view input) : input(input) {}
  void onBodyData(std::string_view data) override {
    // Chunk data is handed out zero-copy: it must lie inside the piece being decoded.
    FUZZ_CHECK(data.data() >= input.data() &&
               data.data() + data.size() <= input.data() + input.size());
    body.append(data);
  }
  std::string_view input;
  std::string body;
};

struct Outcome {
  ParseResult result;
  size_t total_consumed = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> trailers;
};

Outcome decodeInPieces(std::string_view input, SplitRng* rng, ChunkedDecoderLimits limits) {
  ChunkedDecoder decoder(limits);
  Outcome out;
  size_t pos = 0;
  out.result = ParseResult::needMore();
  while (pos < input.size()) {
    size_t n = rng == nullptr ? input.size() - pos : rng->next(input.size() - pos);
    ExactCopy piece(reinterpret_cast<const uint8_t*>(input.data() + pos), n);
    Collect sink(piece.view());
    out.result = decoder.decode(piece.view(), sink);
    out.body += sink.body;
    if (out.result.status == ParseStatus::Error) break;
    FUZZ_CHECK(out.result.consumed <= n);
    if (out.result.status == ParseStatus::NeedMore) FUZZ_CHECK(out.result.consumed == n);
    out.total_consumed += out.result.consumed;
    pos += n;
    if (out.result.status == ParseStatus::Done) break;
  }
  FUZZ_CHECK(decoder.bodyBytes() == out.body.size() || out.result.status == ParseStatus::Error);
  if (out.result.status == ParseStatus::Done) {
    for (const auto& t : decoder.trailers()) {
      FUZZ_CHECK(!t.name.empty());
      out.trailers.emplace_back(t.name, t.value);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ExactCopy whole(data, size);
  ChunkedDecoderLimits limits;
  limits.max_line_bytes = 256;
  limits.max_trailer_bytes = 1024;
  limits.max_trailers = 8;
  limits.max_chunk_size = 1 << 20;
  Outcome w = decodeInPieces(whole.view(), nullptr, limits);
  SplitRng rng(data, size);
  Outcome s = decodeInPieces(whole.view(), &rng, limits);
  FUZZ_CHECK(w.result.status == s.result.status);
  FUZZ_CHECK(w.result.code == s.result.code);
  FUZZ_CHECK(w.body == s.body);
  if (w.result.status == ParseStatus::Done) {
    FUZZ_CHECK(w.total_consumed == s.total_consumed);
    FUZZ_CHECK(w.total_consumed <= size);
    FUZZ_CHECK(w.trailers == s.trailers);
  }
  return 0;
}
