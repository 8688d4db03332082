#include "config/extension_resolver.h"

#include <optional>
#include <string>

#include "config/extension_registry.h"
#include "config/reflection_util.h"

namespace remora::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr std::string_view kTypeUrlPrefix = "type.googleapis.com/";

// The extension category of a message that names an extension, by its full name. Data, not code:
// a new slot type is one line here.
std::optional<ExtensionCategory> slotCategory(const Descriptor* d) {
  const std::string& name = d->full_name();
  if (name == "envoy.config.listener.v3.ListenerFilter") return ExtensionCategory::ListenerFilter;
  if (name == "envoy.config.listener.v3.Filter") return ExtensionCategory::NetworkFilter;
  if (name == "envoy.config.core.v3.TransportSocket") return ExtensionCategory::TransportSocket;
  if (name == "envoy.config.accesslog.v3.AccessLog") return ExtensionCategory::AccessLogger;
  if (name == "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter") {
    return ExtensionCategory::HttpFilter;
  }
  if (name == "envoy.config.route.v3.RetryPolicy.RetryHostPredicate") {
    return ExtensionCategory::RetryHostPredicate;
  }
  return std::nullopt;
}

class Resolver {
 public:
  // `changed` reports whether anything below was filled in, so Any payloads are re-packed only
  // when needed.
  Status walk(Message& m, const std::string& path, bool& changed, int depth);

 private:
  Status resolveSlot(Message& m, ExtensionCategory category, const std::string& path,
                     bool& changed);
  Status walkAny(Message& any, const std::string& path, bool& changed, int depth);
};

Status Resolver::resolveSlot(Message& m, ExtensionCategory category, const std::string& path,
                             bool& changed) {
  const Descriptor* d = m.GetDescriptor();
  const auto* reflection = m.GetReflection();
  const FieldDescriptor* name_field = d->FindFieldByName("name");
  const FieldDescriptor* typed_config = d->FindFieldByName("typed_config");
  if (name_field == nullptr || typed_config == nullptr) return Status();
  const std::string name = reflection->GetString(m, name_field);
  if (reflection->HasField(m, typed_config)) {
    const Message& any = reflection->GetMessage(m, typed_config);
    const std::string url =
        any.GetReflection()->GetString(any, any.GetDescriptor()->FindFieldByNumber(1));
    if (ExtensionRegistry::get().byType(category, typeNameFromUrl(url)) == nullptr) {
      return Status::error("not supported by remora: " + joinPath(path, "typed_config") + ": " +
                           url);
    }
    return Status();
  }
  // Another member of the config oneof (e.g. config_discovery) is set: not ours to fill.
  const auto* oneof = typed_config->containing_oneof();
  if (oneof != nullptr && reflection->GetOneofFieldDescriptor(m, oneof) != nullptr) return Status();
  const Extension* extension = ExtensionRegistry::get().byName(category, name);
  if (extension == nullptr) {
    return Status::error(joinPath(path, "name") + ": unknown " +
                         std::string(categoryName(category)) + " \"" + name +
                         "\" (no typed_config given and remora has no extension of that name)");
  }
  Message* any = reflection->MutableMessage(&m, typed_config);
  any->GetReflection()->SetString(any, any->GetDescriptor()->FindFieldByNumber(1),
                                  std::string(kTypeUrlPrefix) + extension->config_type);
  any->GetReflection()->SetString(any, any->GetDescriptor()->FindFieldByNumber(2), "");
  changed = true;
  return Status();
}

Status Resolver::walkAny(Message& any, const std::string& path, bool& changed, int depth) {
  std::unique_ptr<Message> inner = unpackAny(any);
  if (inner == nullptr) return Status();  // the schema check rejected unknown types already
  bool inner_changed = false;
  RETURN_IF_ERROR(walk(*inner, path, inner_changed, depth + 1));
  if (inner_changed) {
    any.GetReflection()->SetString(&any, any.GetDescriptor()->FindFieldByNumber(2),
                                   inner->SerializeAsString());
    changed = true;
  }
  return Status();
}

Status Resolver::walk(Message& m, const std::string& path, bool& changed, int depth) {
  if (depth > 100) return Status::error(path + ": nesting deeper than 100 levels");
  const Descriptor* d = m.GetDescriptor();
  if (isAny(d)) return walkAny(m, path, changed, depth);
  if (auto category = slotCategory(d)) RETURN_IF_ERROR(resolveSlot(m, *category, path, changed));
  const auto* reflection = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE || !isFieldSet(m, f)) continue;
    const std::string field_path = joinPath(path, f->name());
    if (f->is_repeated()) {
      for (int j = 0; j < reflection->FieldSize(m, f); ++j) {
        Message* item = reflection->MutableRepeatedMessage(&m, f, j);
        std::string item_path =
            f->is_map() ? keyPath(field_path, mapKeyText(*item)) : indexPath(field_path, j);
        RETURN_IF_ERROR(walk(*item, item_path, changed, depth + 1));
      }
    } else {
      RETURN_IF_ERROR(walk(*reflection->MutableMessage(&m, f), field_path, changed, depth + 1));
    }
  }
  return Status();
}

}  // namespace

Status resolveExtensions(Message& config) {
  bool changed = false;
  return Resolver().walk(config, "", changed, 0);
}

}  // namespace remora::config
