#include "config/compat_table.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <sstream>

#include "config/supported_fields.h"

namespace remora::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::FieldDescriptor;

const Descriptor* lookup(const std::string& name) {
  return DescriptorPool::generated_pool()->FindMessageTypeByName(name);
}

bool isValueMessage(const std::string& name) { return name.rfind("google.protobuf.", 0) == 0; }

std::string typeName(const FieldDescriptor* f) {
  std::string base;
  if (f->is_map()) {
    base = "map<" + typeName(f->message_type()->map_key()) + ", " +
           typeName(f->message_type()->map_value()) + ">";
    return base;
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    base = f->message_type()->full_name();
  } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
    base = f->enum_type()->full_name();
  } else {
    base = f->type_name();
  }
  return f->is_repeated() ? "repeated " + base : base;
}

std::string statusOf(const MessageSupport* support, const FieldDescriptor* f) {
  if (support == nullptr) return "not supported";
  if (support->all_fields) return "supported";
  if (support->fields.count(f->name()) == 0) return "not supported";
  auto allowed = support->enum_values.find(f->name());
  if (allowed == support->enum_values.end()) return "supported";
  // Declaration order of the enum, not alphabetical, so the table reads like the API docs.
  std::string values;
  for (int i = 0; i < f->enum_type()->value_count(); ++i) {
    const std::string& name = f->enum_type()->value(i)->name();
    if (allowed->second.count(name) == 0) continue;
    values += (values.empty() ? "" : ", ") + name;
  }
  return "supported: only " + values;
}

// Messages reachable from `roots` through supported message-typed fields, in breadth-first order.
void collectReachable(const std::vector<std::string>& roots, std::vector<std::string>& order,
                      std::set<std::string>& seen) {
  std::deque<std::string> queue(roots.begin(), roots.end());
  const auto& table = SupportedFields::get();
  while (!queue.empty()) {
    std::string name = queue.front();
    queue.pop_front();
    if (isValueMessage(name) || !seen.insert(name).second) continue;
    order.push_back(name);
    const Descriptor* d = lookup(name);
    const MessageSupport* support = table.find(name);
    if (d == nullptr || support == nullptr) continue;
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
          support->fields.count(f->name()) == 0)
        continue;
      const Descriptor* next =
          f->is_map() ? f->message_type()->map_value()->message_type() : f->message_type();
      if (next != nullptr) queue.push_back(next->full_name());
    }
  }
}

// A word of explanation under a message's table, where a field's status alone would mislead.
const std::map<std::string, std::string, std::less<>>& notes() {
  static const auto* notes = new std::map<std::string, std::string, std::less<>>{
      {"envoy.config.route.v3.VirtualHost",
       "The deprecated `cors` field is not supported: configure CORS with the "
       "`envoy.filters.http.cors` filter and a `CorsPolicy` in `typed_per_filter_config`."},
      {"envoy.config.route.v3.RouteAction",
       "The deprecated `cors` field is not supported: configure CORS with the "
       "`envoy.filters.http.cors` filter and a `CorsPolicy` in the route's "
       "`typed_per_filter_config`. The deprecated `max_grpc_timeout` and `grpc_timeout_offset` "
       "are supported (their `max_stream_duration` successors are not yet)."},
      {"envoy.extensions.filters.http.grpc_stats.v3.FilterConfig",
       "`emit_filter_state` is not supported: remora has no filter state objects yet. The "
       "per-status counters exist for the well-known codes 0-16 only."},
      {"envoy.extensions.filters.http.grpc_web.v3.GrpcWeb",
       "Envoy's rewriting of non-gRPC error responses (a non-200 without grpc-status) into "
       "gRPC-web errors is not done: such responses pass as they are."},
      {"envoy.extensions.filters.http.health_check.v3.HealthCheck",
       "As in Envoy, `cluster_min_healthy_percentages` applies only without `pass_through_mode`. "
       "Every host counts as healthy until active health checking exists; a cluster without "
       "hosts fails the check unless its minimum is 0, a cluster that does not exist fails it."},
  };
  return *notes;
}

void renderMessage(std::ostringstream& out, const std::string& name) {
  const Descriptor* d = lookup(name);
  if (d == nullptr) return;
  const MessageSupport* support = SupportedFields::get().find(name);
  out << "### " << name << "\n\n";
  if (auto note = notes().find(name); note != notes().end()) out << note->second << "\n\n";
  if (d->field_count() == 0) {
    out << "No fields.\n\n";
    return;
  }
  out << "| field | type | status |\n|---|---|---|\n";
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    out << "| `" << f->name() << "` | `" << typeName(f) << "` | " << statusOf(support, f) << " |\n";
  }
  out << "\n";
}

}  // namespace

std::string compatibilityMarkdown(const std::vector<const Extension*>& extensions) {
  std::vector<const Extension*> sorted = extensions;
  std::sort(sorted.begin(), sorted.end(), [](const Extension* a, const Extension* b) {
    return std::make_pair(a->category, a->name) < std::make_pair(b->category, b->name);
  });
  std::ostringstream out;
  out << "# Remora compatibility with the Envoy v3 API\n\n"
      << "Generated by `build/bin/gen_compat > docs/compatibility.md` from the proto descriptors, "
         "the\n"
      << "supported-fields table (src/config/supported_fields.cc) and the extension registry; a "
         "unit test\n"
      << "fails when this file is stale. A field marked \"not supported\" is rejected when set\n"
      << "(\"not supported by remora: <path>\"), never silently ignored.\n\n";
  out << "## Extensions\n\n";
  if (sorted.empty()) {
    out << "No extensions are registered in this build.\n\n";
  } else {
    out << "| category | name | config type |\n|---|---|---|\n";
    for (const Extension* e : sorted) {
      out << "| " << categoryName(e->category) << " | `" << e->name << "` | `" << e->config_type
          << "` |\n";
    }
    out << "\n";
  }
  out << "## Value types\n\nSupported wherever the field holding them is supported:";
  for (const std::string& name : SupportedFields::get().messages()) {
    if (isValueMessage(name)) out << " `" << name << "`";
  }
  out << ".\n\n## Messages\n\n";

  std::vector<std::string> order;
  std::set<std::string> seen;
  collectReachable({"envoy.config.bootstrap.v3.Bootstrap"}, order, seen);
  std::vector<std::string> extension_roots;
  for (const Extension* e : sorted) extension_roots.push_back(e->config_type);
  collectReachable(extension_roots, order, seen);
  // Messages in the table not reachable yet (e.g. extension configs whose runtime is not
  // registered in this build) are listed too, so the table documents everything it knows.
  collectReachable(SupportedFields::get().messages(), order, seen);
  for (const std::string& name : order) renderMessage(out, name);
  return out.str();
}

std::string compatibilityMarkdown() {
  return compatibilityMarkdown(ExtensionRegistry::get().all());
}

}  // namespace remora::config
