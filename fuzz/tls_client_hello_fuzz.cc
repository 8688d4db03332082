// Reads the input as a connection's first bytes, as tls_inspector does, and checks what the
// inspector relies on: every prefix either waits for more or already gives the whole input's
// verdict (peeking again later never changes a decision), and a found hello's facts are sane.
#include "filters/listener/inspect/tls_client_hello.h"
#include "fuzz_util.h"

using remora::fuzz::ExactCopy;
using remora::fuzz::SplitRng;
using namespace remora::filters::listener::inspect;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ExactCopy input(data, size);
  const ClientHello whole = parseClientHello(input.view());
  if (whole.verdict == ClientHello::Verdict::Tls) {
    FUZZ_CHECK(whole.bytes_used > 0 && whole.bytes_used <= size);
    FUZZ_CHECK(whole.bytes_used <= kMaxClientHelloSize);
    for (const auto& protocol : whole.application_protocols) FUZZ_CHECK(!protocol.empty());
  } else {
    FUZZ_CHECK(whole.server_name.empty() && whole.application_protocols.empty());
  }
  SplitRng rng(data, size);
  for (size_t cut = 0; cut < size; cut += rng.next(size)) {
    ExactCopy prefix(data, cut);  // as peeked before the rest arrived
    const ClientHello early = parseClientHello(prefix.view());
    FUZZ_CHECK(early.verdict == ClientHello::Verdict::NeedMore || early.verdict == whole.verdict);
    if (early.verdict == ClientHello::Verdict::Tls) {
      FUZZ_CHECK(early.server_name == whole.server_name);
      FUZZ_CHECK(early.application_protocols == whole.application_protocols);
    }
  }
  return 0;
}
