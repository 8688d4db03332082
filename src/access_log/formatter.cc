#include "access_log/formatter.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "access_log/time_format.h"

namespace remora::access_log {

enum class CommandOperator::Kind : uint8_t {
  kStartTime,
  kRequestHeader,
  kResponseHeader,
  kResponseTrailer,
  kDuration,
  kRequestDuration,
  kRequestTxDuration,
  kResponseDuration,
  kResponseTxDuration,
  kResponseCode,
  kResponseCodeDetails,
  kConnectionTerminationDetails,
  kResponseFlags,
  kResponseFlagsLong,
  kBytesReceived,
  kBytesSent,
  kProtocol,
  kUpstreamHost,
  kUpstreamCluster,
  kUpstreamLocalAddress,
  kUpstreamTransportFailureReason,
  kUpstreamRequestAttemptCount,
  kDownstreamRemoteAddress,
  kDownstreamRemoteAddressWithoutPort,
  kDownstreamLocalAddress,
  kDownstreamLocalAddressWithoutPort,
  kDownstreamDirectRemoteAddress,
  kDownstreamDirectRemoteAddressWithoutPort,
  kDownstreamLocalPort,
  kRequestedServerName,
  kRouteName,
  kHostname,
  kLocalReplyBody,
};

namespace {

using Kind = CommandOperator::Kind;
using std::chrono::nanoseconds;

struct OperatorName {
  std::string_view name;
  Kind kind;
};

// Every operator remora implements, by its name in the docs. REQUEST_HEADER, RESPONSE_HEADER and
// RESPONSE_TRAILER are Envoy's newer spellings of REQ, RESP and TRAILER.
constexpr OperatorName kOperators[] = {
    {"START_TIME", Kind::kStartTime},
    {"REQ", Kind::kRequestHeader},
    {"REQUEST_HEADER", Kind::kRequestHeader},
    {"RESP", Kind::kResponseHeader},
    {"RESPONSE_HEADER", Kind::kResponseHeader},
    {"TRAILER", Kind::kResponseTrailer},
    {"RESPONSE_TRAILER", Kind::kResponseTrailer},
    {"DURATION", Kind::kDuration},
    {"REQUEST_DURATION", Kind::kRequestDuration},
    {"REQUEST_TX_DURATION", Kind::kRequestTxDuration},
    {"RESPONSE_DURATION", Kind::kResponseDuration},
    {"RESPONSE_TX_DURATION", Kind::kResponseTxDuration},
    {"RESPONSE_CODE", Kind::kResponseCode},
    {"RESPONSE_CODE_DETAILS", Kind::kResponseCodeDetails},
    {"CONNECTION_TERMINATION_DETAILS", Kind::kConnectionTerminationDetails},
    {"RESPONSE_FLAGS", Kind::kResponseFlags},
    {"RESPONSE_FLAGS_LONG", Kind::kResponseFlagsLong},
    {"BYTES_RECEIVED", Kind::kBytesReceived},
    {"BYTES_SENT", Kind::kBytesSent},
    {"PROTOCOL", Kind::kProtocol},
    {"UPSTREAM_HOST", Kind::kUpstreamHost},
    {"UPSTREAM_CLUSTER", Kind::kUpstreamCluster},
    {"UPSTREAM_LOCAL_ADDRESS", Kind::kUpstreamLocalAddress},
    {"UPSTREAM_TRANSPORT_FAILURE_REASON", Kind::kUpstreamTransportFailureReason},
    {"UPSTREAM_REQUEST_ATTEMPT_COUNT", Kind::kUpstreamRequestAttemptCount},
    {"DOWNSTREAM_REMOTE_ADDRESS", Kind::kDownstreamRemoteAddress},
    {"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", Kind::kDownstreamRemoteAddressWithoutPort},
    {"DOWNSTREAM_LOCAL_ADDRESS", Kind::kDownstreamLocalAddress},
    {"DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", Kind::kDownstreamLocalAddressWithoutPort},
    {"DOWNSTREAM_DIRECT_REMOTE_ADDRESS", Kind::kDownstreamDirectRemoteAddress},
    {"DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT",
     Kind::kDownstreamDirectRemoteAddressWithoutPort},
    {"DOWNSTREAM_LOCAL_PORT", Kind::kDownstreamLocalPort},
    {"REQUESTED_SERVER_NAME", Kind::kRequestedServerName},
    {"ROUTE_NAME", Kind::kRouteName},
    {"HOSTNAME", Kind::kHostname},
    {"LOCAL_REPLY_BODY", Kind::kLocalReplyBody},
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

FormatValue stringOrAbsent(std::string_view s) {
  return s.empty() ? FormatValue::absent() : FormatValue::string(std::string(s));
}

// Durations print in whole milliseconds, truncated, as Envoy's do.
FormatValue millis(std::optional<nanoseconds> d) {
  if (!d) return FormatValue::absent();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*d).count();
  return FormatValue::num(static_cast<uint64_t>(std::max<int64_t>(ms, 0)));
}

FormatValue address(const net::Address& a, bool with_port) {
  if (!a.valid()) return FormatValue::absent();
  return FormatValue::string(with_port ? a.asString() : a.ip());
}

FormatValue optionalAddress(const std::optional<net::Address>& a, bool with_port) {
  return a ? address(*a, with_port) : FormatValue::absent();
}

std::string longFlags(uint64_t flags) {
  std::string out;
  for (int bit = 0; bit < 64; ++bit) {
    const uint64_t flag = uint64_t{1} << bit;
    if ((flags & flag) == 0) continue;
    std::string_view name =
        stream_info::responseFlagLongName(static_cast<stream_info::ResponseFlag>(flag));
    if (name.empty()) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

std::string hostname() {
  std::array<char, 256> buffer{};
  if (gethostname(buffer.data(), buffer.size() - 1) != 0) return "";
  return std::string(buffer.data());
}

bool takesHeaderArgs(Kind kind) {
  return kind == Kind::kRequestHeader || kind == Kind::kResponseHeader ||
         kind == Kind::kResponseTrailer;
}

}  // namespace

void FormatValue::appendTo(std::string& out, std::string_view absent_text) const {
  switch (type) {
    case Type::kAbsent:
      out += absent_text;
      break;
    case Type::kString:
      out += text;
      break;
    case Type::kNumber:
      out += std::to_string(number);
      break;
  }
}

StatusOr<CommandOperator> CommandOperator::create(std::string_view command,
                                                  std::optional<std::string_view> args,
                                                  std::optional<size_t> max_length) {
  const std::string display = "%" + std::string(command) + "%";
  auto it = std::find_if(std::begin(kOperators), std::end(kOperators),
                         [&](const OperatorName& o) { return o.name == command; });
  if (it == std::end(kOperators)) {
    return Status::error("unknown access log command operator " + display);
  }
  CommandOperator op;
  op.kind_ = it->kind;
  op.max_length_ = max_length;
  if (takesHeaderArgs(op.kind_)) {
    if (!args || args->empty()) {
      return Status::error(display + " needs a header name: " + std::string(command) + "(X?Y):Z");
    }
    std::string_view main = *args;
    auto q = main.find('?');
    if (q != std::string_view::npos) {
      std::string_view alt = main.substr(q + 1);
      main = main.substr(0, q);
      if (alt.empty() || main.empty() || alt.find('?') != std::string_view::npos) {
        return Status::error(
            display + ": more than 1 alternative header or an empty one: " + std::string(*args));
      }
      op.alternative_header_ = lower(alt);
    }
    op.main_header_ = lower(main);
  } else if (op.kind_ == Kind::kStartTime) {
    if (args) op.text_ = std::string(*args);
  } else if (args) {
    return Status::error(display + " takes no parameters");
  }
  if (op.kind_ == Kind::kHostname) op.text_ = hostname();  // constant for the process's life
  return op;
}

FormatValue CommandOperator::evaluateHeader(const http::HeaderMap* headers) const {
  if (headers == nullptr) return FormatValue::absent();
  const std::string* value = headers->get(main_header_);
  if (value == nullptr && !alternative_header_.empty()) value = headers->get(alternative_header_);
  if (value == nullptr) return FormatValue::absent();
  return FormatValue::string(*value);
}

FormatValue CommandOperator::evaluate(const FormatContext& context) const {
  const stream_info::StreamInfo& info = context.stream_info;
  FormatValue v;
  switch (kind_) {
    case Kind::kStartTime:
      v = FormatValue::string(formatTime(text_, info.start_time));
      break;
    case Kind::kRequestHeader:
      v = evaluateHeader(context.request_headers);
      break;
    case Kind::kResponseHeader:
      v = evaluateHeader(context.response_headers);
      break;
    case Kind::kResponseTrailer:
      v = evaluateHeader(context.response_trailers);
      break;
    case Kind::kDuration:
      v = millis(info.request_complete);
      break;
    case Kind::kRequestDuration:
      v = millis(info.last_downstream_rx_byte_received);
      break;
    case Kind::kRequestTxDuration:
      v = millis(info.last_upstream_tx_byte_sent);
      break;
    case Kind::kResponseDuration:
      v = millis(info.first_upstream_rx_byte_received);
      break;
    case Kind::kResponseTxDuration:
      // From the first upstream response byte to the last byte sent downstream.
      if (info.first_upstream_rx_byte_received && info.last_downstream_tx_byte_sent) {
        v = millis(*info.last_downstream_tx_byte_sent - *info.first_upstream_rx_byte_received);
      }
      break;
    case Kind::kResponseCode:
      // Envoy prints 0 when no response was sent (e.g. the client went away).
      v = FormatValue::num(info.response_code.value_or(0));
      break;
    case Kind::kResponseCodeDetails:
      v = stringOrAbsent(info.response_code_details);
      break;
    case Kind::kConnectionTerminationDetails:
      v = stringOrAbsent(info.connection_termination_details);
      break;
    case Kind::kResponseFlags:
      v = FormatValue::string(stream_info::responseFlagsToShortString(info.response_flags));
      break;
    case Kind::kResponseFlagsLong:
      v = stringOrAbsent(longFlags(info.response_flags));
      break;
    case Kind::kBytesReceived:
      v = FormatValue::num(info.bytes_received);
      break;
    case Kind::kBytesSent:
      v = FormatValue::num(info.bytes_sent);
      break;
    case Kind::kProtocol:
      if (info.protocol) v = FormatValue::string(std::string(http::protocolString(*info.protocol)));
      break;
    case Kind::kUpstreamHost:
      v = optionalAddress(info.upstream_host, true);
      break;
    case Kind::kUpstreamCluster:
      v = stringOrAbsent(info.upstream_cluster);
      break;
    case Kind::kUpstreamLocalAddress:
      v = optionalAddress(info.upstream_local_address, true);
      break;
    case Kind::kUpstreamTransportFailureReason: {
      // Envoy logs the reason with its spaces as '_' ("delayed_connect_error:_Connection_refused").
      std::string reason = info.upstream_transport_failure_reason;
      std::replace(reason.begin(), reason.end(), ' ', '_');
      v = stringOrAbsent(reason);
      break;
    }
    case Kind::kUpstreamRequestAttemptCount:
      v = FormatValue::num(info.attempt_count);
      break;
    case Kind::kDownstreamRemoteAddress:
      v = address(info.downstream_remote_address, true);
      break;
    case Kind::kDownstreamRemoteAddressWithoutPort:
      v = address(info.downstream_remote_address, false);
      break;
    case Kind::kDownstreamLocalAddress:
      v = address(info.downstream_local_address, true);
      break;
    case Kind::kDownstreamLocalAddressWithoutPort:
      v = address(info.downstream_local_address, false);
      break;
    case Kind::kDownstreamDirectRemoteAddress:
      v = address(info.downstream_direct_remote_address, true);
      break;
    case Kind::kDownstreamDirectRemoteAddressWithoutPort:
      v = address(info.downstream_direct_remote_address, false);
      break;
    case Kind::kDownstreamLocalPort:
      if (info.downstream_local_address.valid()) {
        v = FormatValue::num(info.downstream_local_address.port());
      }
      break;
    case Kind::kRequestedServerName:
      v = stringOrAbsent(info.requested_server_name);
      break;
    case Kind::kRouteName:
      v = stringOrAbsent(info.route_name);
      break;
    case Kind::kHostname:
      v = stringOrAbsent(text_);
      break;
    case Kind::kLocalReplyBody:
      // Envoy prints the body as is, even when empty.
      v = FormatValue::string(std::string(context.local_reply_body));
      break;
  }
  if (max_length_ && v.type == FormatValue::Type::kString && v.text.size() > *max_length_) {
    v.text.resize(*max_length_);
  }
  return v;
}

StatusOr<FormatString> FormatString::parse(std::string_view format) {
  FormatString result;
  std::string literal;
  for (size_t i = 0; i < format.size();) {
    if (format[i] != '%') {
      literal += format[i++];
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '%') {  // "%%" is a literal '%'
      literal += '%';
      i += 2;
      continue;
    }
    // %NAME%, %NAME(args)%, %NAME:len% or %NAME(args):len%; NAME is [A-Z0-9_]+ and args run to
    // the first ')' (START_TIME's args hold '%' signs).
    const size_t start = i;
    size_t j = i + 1;
    while (j < format.size() &&
           (std::isupper(static_cast<unsigned char>(format[j])) ||
            std::isdigit(static_cast<unsigned char>(format[j])) || format[j] == '_')) {
      ++j;
    }
    std::string_view name = format.substr(i + 1, j - i - 1);
    std::optional<std::string_view> args;
    std::optional<size_t> max_length;
    bool ok = !name.empty();
    if (ok && j < format.size() && format[j] == '(') {
      size_t close = format.find(')', j);
      if (close == std::string_view::npos) {
        ok = false;
      } else {
        args = format.substr(j + 1, close - j - 1);
        j = close + 1;
      }
    }
    if (ok && j < format.size() && format[j] == ':') {
      size_t k = j + 1;
      size_t len = 0;
      while (k < format.size() && std::isdigit(static_cast<unsigned char>(format[k])) &&
             len < 1000000) {
        len = len * 10 + static_cast<size_t>(format[k] - '0');
        ++k;
      }
      ok = k > j + 1;
      max_length = len;
      j = k;
    }
    if (!ok || j >= format.size() || format[j] != '%') {
      return Status::error("invalid access log format: no valid command operator at position " +
                           std::to_string(start) + " in \"" + std::string(format) + "\"");
    }
    auto op = CommandOperator::create(name, args, max_length);
    if (!op.ok()) return op.status();
    if (!literal.empty()) result.parts_.push_back({std::move(literal), std::nullopt});
    literal.clear();
    result.parts_.push_back({"", std::move(op.value())});
    i = j + 1;
  }
  if (!literal.empty()) result.parts_.push_back({std::move(literal), std::nullopt});
  return result;
}

void FormatString::formatTo(std::string& out, const FormatContext& context,
                            std::string_view absent_text) const {
  for (const Part& part : parts_) {
    if (part.op) {
      part.op->evaluate(context).appendTo(out, absent_text);
    } else {
      out += part.literal;
    }
  }
}

const CommandOperator* FormatString::singleOperator() const {
  if (parts_.size() != 1 || !parts_[0].op) return nullptr;
  return &*parts_[0].op;
}

}  // namespace remora::access_log
