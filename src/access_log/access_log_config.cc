#include "access_log/access_log_config.h"

#include "access_log/access_log_file.h"
#include "access_log/filter.h"
#include "access_log/substitution_format.h"
#include "config/extension_registry.h"
#include "config/reflection_util.h"
#include "envoy/extensions/access_loggers/file/v3/file.pb.h"
#include "envoy/extensions/access_loggers/stream/v3/stream.pb.h"

namespace remora::access_log {
namespace {

using envoy::extensions::access_loggers::file::v3::FileAccessLog;
using envoy::extensions::access_loggers::stream::v3::StderrAccessLog;
using envoy::extensions::access_loggers::stream::v3::StdoutAccessLog;

// Every built-in logger: filter, formatter, shared buffered file.
class FileLogger : public Instance {
 public:
  FileLogger(FilterPtr filter, FormatterPtr formatter, std::shared_ptr<AccessLogFile> file)
      : filter_(std::move(filter)), formatter_(std::move(formatter)), file_(std::move(file)) {}

  void log(const http::HeaderMap* request_headers, const http::HeaderMap* response_headers,
           const http::HeaderMap* response_trailers,
           const stream_info::StreamInfo& stream_info) const override {
    const FormatContext context{
        request_headers, response_headers, response_trailers, stream_info, {}};
    if (filter_ != nullptr && !filter_->evaluate(context)) return;
    file_->write(formatter_->format(context));
  }

 private:
  FilterPtr filter_;
  FormatterPtr formatter_;
  std::shared_ptr<AccessLogFile> file_;
};

StatusOr<InstanceSharedPtr> makeLogger(const std::string& path, FilterPtr filter,
                                       StatusOr<FormatterPtr> formatter) {
  if (!formatter.ok()) return formatter.status();
  auto file = AccessLogFileManager::get().getOrOpen(path);
  if (!file.ok()) return file.status();
  return InstanceSharedPtr(std::make_shared<const FileLogger>(
      std::move(filter), std::move(formatter.value()), std::move(file.value())));
}

// json_format and typed_json_format are deprecated but still honoured by Envoy.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
StatusOr<FormatterPtr> fileFormatter(const FileAccessLog& proto) {
  switch (proto.access_log_format_case()) {
    case FileAccessLog::kLogFormat: {
      auto f = createFormatter(proto.log_format());
      return f.ok() ? std::move(f) : StatusOr<FormatterPtr>(f.status().withPrefix("log_format"));
    }
    case FileAccessLog::kJsonFormat:
      // The deprecated json_format renders every value as a string (Envoy's docs).
      return JsonFormatter::create(proto.json_format(), /*typed=*/false, false);
    case FileAccessLog::kTypedJsonFormat:
      return JsonFormatter::create(proto.typed_json_format(), /*typed=*/true, false);
    case FileAccessLog::kFormat:
      return Status::error("not supported by remora: format (deprecated: use log_format)");
    case FileAccessLog::ACCESS_LOG_FORMAT_NOT_SET:
      break;
  }
  return createDefaultFormatter();
}
#pragma GCC diagnostic pop

class FileFactory : public AccessLogInstanceFactory {
 public:
  StatusOr<InstanceSharedPtr> create(const google::protobuf::Message& message,
                                     FilterPtr filter) const override {
    const auto& proto = static_cast<const FileAccessLog&>(message);
    if (proto.path().empty()) return Status::error("path: must not be empty");
    return makeLogger(proto.path(), std::move(filter), fileFormatter(proto));
  }
};

// StdoutAccessLog and StderrAccessLog have the same shape: an optional log_format.
template <class Proto>
class StreamFactory : public AccessLogInstanceFactory {
 public:
  explicit StreamFactory(std::string path) : path_(std::move(path)) {}
  StatusOr<InstanceSharedPtr> create(const google::protobuf::Message& message,
                                     FilterPtr filter) const override {
    const auto& proto = static_cast<const Proto&>(message);
    StatusOr<FormatterPtr> formatter = createDefaultFormatter();
    if (proto.has_log_format()) {
      formatter = createFormatter(proto.log_format());
      if (!formatter.ok()) return formatter.status().withPrefix("log_format");
    }
    return makeLogger(path_, std::move(filter), std::move(formatter));
  }

 private:
  std::string path_;
};

const config::RegisterExtension kFileRegistration{
    config::ExtensionCategory::AccessLogger, "envoy.access_loggers.file",
    FileAccessLog::descriptor()->full_name(),
    std::shared_ptr<const AccessLogInstanceFactory>(std::make_shared<FileFactory>())};
const config::RegisterExtension kStdoutRegistration{
    config::ExtensionCategory::AccessLogger, "envoy.access_loggers.stdout",
    StdoutAccessLog::descriptor()->full_name(),
    std::shared_ptr<const AccessLogInstanceFactory>(
        std::make_shared<StreamFactory<StdoutAccessLog>>("/dev/stdout"))};
const config::RegisterExtension kStderrRegistration{
    config::ExtensionCategory::AccessLogger, "envoy.access_loggers.stderr",
    StderrAccessLog::descriptor()->full_name(),
    std::shared_ptr<const AccessLogInstanceFactory>(
        std::make_shared<StreamFactory<StderrAccessLog>>("/dev/stderr"))};

}  // namespace

StatusOr<InstanceSharedPtr> createAccessLog(const envoy::config::accesslog::v3::AccessLog& config) {
  const auto& registry = config::ExtensionRegistry::get();
  const auto category = config::ExtensionCategory::AccessLogger;
  const config::Extension* extension = nullptr;
  std::unique_ptr<google::protobuf::Message> message;
  if (config.has_typed_config()) {
    std::string_view type = config::typeNameFromUrl(config.typed_config().type_url());
    extension = registry.byType(category, type);
    if (extension == nullptr) {
      return Status::error("not supported by remora: typed_config: " + std::string(type));
    }
    message = config::unpackAny(config.typed_config());
    if (message == nullptr)
      return Status::error("typed_config: cannot unpack " + std::string(type));
  } else {
    extension = registry.byName(category, config.name());
    if (extension == nullptr) {
      return Status::error("name: unknown access logger \"" + config.name() + "\"");
    }
    const auto* descriptor =
        google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(
            extension->config_type);
    RELEASE_ASSERT(descriptor != nullptr, "registered access logger config type not linked");
    message.reset(
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(descriptor)->New());
  }
  FilterPtr filter;
  if (config.has_filter()) {
    auto built = createFilter(config.filter(), "filter");
    if (!built.ok()) return built.status();
    filter = std::move(built.value());
  }
  const auto* factory = static_cast<const AccessLogInstanceFactory*>(extension->factory.get());
  auto instance = factory->create(*message, std::move(filter));
  if (!instance.ok()) return instance.status().withPrefix("typed_config");
  return instance;
}

}  // namespace remora::access_log
