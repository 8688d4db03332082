// Reads the input as a connection's first bytes, as http_inspector does: every prefix either waits
// for more or already gives the whole input's verdict, so peeking again never changes a decision.
#include "filters/listener/inspect/http_request_line.h"
#include "fuzz_util.h"

using remora::fuzz::ExactCopy;
using remora::fuzz::SplitRng;
using namespace remora::filters::listener::inspect;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ExactCopy input(data, size);
  const HttpVerdict whole = detectHttp(input.view());
  if (size >= kMaxHttpInspectSize) FUZZ_CHECK(whole != HttpVerdict::NeedMore);
  SplitRng rng(data, size);
  for (size_t cut = 0; cut < size; cut += rng.next(size)) {
    ExactCopy prefix(data, cut);
    const HttpVerdict early = detectHttp(prefix.view());
    FUZZ_CHECK(early == HttpVerdict::NeedMore || early == whole);
  }
  return 0;
}
