#include "http/codec.h"

namespace remora::http {

std::string_view protocolString(Protocol protocol) {
  switch (protocol) {
    case Protocol::Http10: return "HTTP/1.0";
    case Protocol::Http11: return "HTTP/1.1";
    case Protocol::Http2: return "HTTP/2";
  }
  return "-";
}

std::string_view resetReasonString(StreamResetReason reason) {
  switch (reason) {
    case StreamResetReason::LocalReset: return "local reset";
    case StreamResetReason::RemoteReset: return "remote reset";
    case StreamResetReason::LocalConnectionFailure: return "local connection failure";
    case StreamResetReason::RemoteConnectionFailure: return "remote connection failure";
    case StreamResetReason::ConnectionTimeout: return "connection timeout";
    case StreamResetReason::ConnectionTermination: return "connection termination";
    case StreamResetReason::Overflow: return "overflow";
    case StreamResetReason::ProtocolError: return "protocol error";
    case StreamResetReason::RemoteRefusedStreamReset: return "remote refused stream reset";
  }
  return "unknown";
}

}  // namespace remora::http
