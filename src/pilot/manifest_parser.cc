#include "pilot/manifest_parser.h"

#include <set>

#include "pilot/istio_parser.h"
#include "pilot/k8s_parser.h"
#include "pilot/yaml_fields.h"

namespace remora::pilot {
namespace {

const std::set<std::string>& networkingVersions() {
  static const std::set<std::string> v{"v1alpha3", "v1beta1", "v1"};
  return v;
}

// Splits "group/version" ("v1" has the empty core group).
std::pair<std::string, std::string> splitApiVersion(const std::string& api_version) {
  auto slash = api_version.find('/');
  if (slash == std::string::npos) return {"", api_version};
  return {api_version.substr(0, slash), api_version.substr(slash + 1)};
}

Status parseDocument(const Field& doc, Object& out) {
  RETURN_IF_ERROR(doc.expectMap());
  std::string api_version, kind;
  RETURN_IF_ERROR(doc["apiVersion"].getString(api_version));
  RETURN_IF_ERROR(doc["kind"].getString(kind));
  if (api_version.empty()) return doc["apiVersion"].error("required");
  if (kind.empty()) return doc["kind"].error("required");
  Field metadata = doc["metadata"];
  RETURN_IF_ERROR(metadata.expectMap());
  std::string name, ns = "default";
  RETURN_IF_ERROR(metadata["name"].getString(name));
  RETURN_IF_ERROR(metadata["namespace"].getString(ns));
  if (name.empty()) return metadata["name"].error("required");
  out.key = ObjectKey{kind, ns, name};

  auto [group, version] = splitApiVersion(api_version);
  Field spec = doc["spec"];
  RETURN_IF_ERROR(spec.expectMap());
  auto named = [&](auto body) {
    body.ns = ns;
    body.name = name;
    return body;
  };
  if (group.empty() && version == "v1") {
    if (kind == "Service") {
      Service s = named(Service{});
      RETURN_IF_ERROR(parseService(doc, s));
      out.body = std::move(s);
      return Status();
    }
    if (kind == "Endpoints") {
      Endpoints e = named(Endpoints{});
      RETURN_IF_ERROR(parseEndpoints(doc, e));
      out.body = std::move(e);
      return Status();
    }
    if (kind == "Pod") {
      Pod p = named(Pod{});
      RETURN_IF_ERROR(parsePod(doc, p));
      out.body = std::move(p);
      return Status();
    }
  }
  if (group == "discovery.k8s.io" && version == "v1" && kind == "EndpointSlice") {
    Endpoints e = named(Endpoints{});
    RETURN_IF_ERROR(parseEndpointSlice(doc, e));
    out.body = std::move(e);
    return Status();
  }
  if (group == "networking.istio.io" && networkingVersions().count(version)) {
    std::string created;
    RETURN_IF_ERROR(metadata["creationTimestamp"].getString(created));
    if (kind == "VirtualService") {
      VirtualService vs = named(VirtualService{});
      vs.created = created;
      RETURN_IF_ERROR(parseVirtualService(spec, vs));
      out.body = std::move(vs);
      return Status();
    }
    if (kind == "DestinationRule") {
      DestinationRule dr = named(DestinationRule{});
      RETURN_IF_ERROR(parseDestinationRule(spec, dr));
      out.body = std::move(dr);
      return Status();
    }
    if (kind == "Sidecar") {
      Sidecar sc = named(Sidecar{});
      sc.created = created;
      RETURN_IF_ERROR(parseSidecar(spec, sc));
      out.body = std::move(sc);
      return Status();
    }
    if (kind == "ServiceEntry") {
      ServiceEntry se = named(ServiceEntry{});
      RETURN_IF_ERROR(parseServiceEntry(spec, se));
      out.body = std::move(se);
      return Status();
    }
  }
  if (isUnsupportedKind(group, kind)) {
    out.body = UnsupportedObject{api_version};
    return Status();
  }
  return doc["kind"].error("unknown kind " + kind + " in " + api_version);
}

}  // namespace

bool isUnsupportedKind(const std::string& group, const std::string& kind) {
  static const std::set<std::string> networking{"Gateway", "WorkloadEntry", "WorkloadGroup",
                                                "EnvoyFilter", "ProxyConfig"};
  static const std::set<std::string> core{"ServiceAccount", "ConfigMap", "Namespace"};
  static const std::set<std::string> apps{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"};
  if (group == "networking.istio.io") return networking.count(kind) > 0;
  if (group == "security.istio.io") return true;
  if (group.empty()) return core.count(kind) > 0;
  if (group == "apps") return apps.count(kind) > 0;
  return false;
}

Status parseObject(const YAML::Node& doc, Object& out) {
  return parseDocument(Field{doc, ""}, out);
}

std::vector<ParsedDocument> parseManifests(const std::string& yaml) {
  std::vector<ParsedDocument> out;
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(yaml);
  } catch (const YAML::Exception& e) {
    // A syntax error: the document index is the count of separators before the error line.
    size_t line = e.mark.line >= 0 ? static_cast<size_t>(e.mark.line) : 0;
    size_t index = 0, current = 0, pos = 0;
    while (current < line && pos != std::string::npos) {
      size_t eol = yaml.find('\n', pos);
      if (yaml.compare(pos, 3, "---") == 0 && current > 0) ++index;
      pos = eol == std::string::npos ? eol : eol + 1;
      ++current;
    }
    out.push_back({index, std::nullopt, "line " + std::to_string(line + 1) + ": " + e.msg});
    return out;
  }
  for (size_t i = 0; i < docs.size(); ++i) {
    if (!docs[i].IsDefined() || docs[i].IsNull()) continue;
    ParsedDocument parsed{i, std::nullopt, std::nullopt};
    Object object;
    Status s = parseDocument(Field{docs[i], ""}, object);
    if (s.ok())
      parsed.object = std::move(object);
    else
      parsed.error = s.message();
    out.push_back(std::move(parsed));
  }
  return out;
}

}  // namespace remora::pilot
