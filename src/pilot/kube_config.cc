#include "pilot/kube_config.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "common/base64.h"
#include "pilot/yaml_fields.h"

namespace remora::pilot {
namespace {

Status onlyKeys(const Field& map, const std::set<std::string>& honoured) {
  RETURN_IF_ERROR(map.expectMap());
  if (!map.present()) return Status();
  for (const auto& entry : map.node) {
    const std::string key = entry.first.as<std::string>();
    if (!honoured.count(key)) return map[key].error("not supported by remora-pilot");
  }
  return Status();
}

// The `list` entry named `name`, with its body under `body` ("cluster", "context", "user").
StatusOr<Field> findNamed(const Field& list, const std::string& name, const std::string& body) {
  RETURN_IF_ERROR(list.expectList());
  for (size_t i = 0; i < list.size(); ++i) {
    Field entry = list.at(i);
    std::string entry_name;
    RETURN_IF_ERROR(entry["name"].getString(entry_name));
    if (entry_name != name) continue;
    RETURN_IF_ERROR(onlyKeys(entry, {"name", body}));
    return entry[body];
  }
  return list.error("no entry named '" + name + "'");
}

StatusOr<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error("cannot read " + path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// kubectl resolves relative paths against the kubeconfig's directory.
std::string resolve(const std::string& kubeconfig, const std::string& path) {
  if (path.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(kubeconfig).parent_path() / path).string();
}

// A PEM from `<name>-data` (base64) or the file `<name>`; "" when neither is set.
Status pemFrom(const Field& entry, const std::string& name, const std::string& kubeconfig,
               std::string& out) {
  std::string data, file;
  RETURN_IF_ERROR(entry[name + "-data"].getString(data));
  RETURN_IF_ERROR(entry[name].getString(file));
  if (!data.empty() && !file.empty())
    return entry[name].error("set either " + name + " or " + name + "-data");
  if (!data.empty()) {
    auto decoded = base64Decode(data);
    if (!decoded) return entry[name + "-data"].error("not base64");
    out = *decoded;
  } else if (!file.empty()) {
    auto content = readFile(resolve(kubeconfig, file));
    if (!content.ok()) return entry[name].error(content.status().message());
    out = *content;
  }
  return Status();
}

StatusOr<std::shared_ptr<const TlsContext>> tlsFor(const HttpUrl& url, const TlsOptions& options) {
  if (!url.tls) return std::shared_ptr<const TlsContext>();
  return TlsContext::create(options);
}

}  // namespace

StatusOr<std::string> KubeApiTarget::bearerToken() const {
  if (token_file.empty()) return token;
  auto content = readFile(token_file);
  if (!content.ok()) return content.status();
  std::string out = *content;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' '))
    out.pop_back();
  return out;
}

StatusOr<KubeApiTarget> kubeApiServer(const std::string& server) {
  auto url = parseHttpUrl(server);
  if (!url.ok()) return url.status();
  KubeApiTarget out;
  out.server = server;
  out.url = *url;
  auto tls = tlsFor(out.url, TlsOptions{});
  if (!tls.ok()) return tls.status();
  out.tls = *tls;
  return out;
}

StatusOr<KubeApiTarget> loadKubeconfig(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Status::error(path + ": " + e.what());
  }
  auto fail = [&](const Status& s) { return Status::error(path + ": " + s.message()); };
  Field doc{root, ""};
  Status s = onlyKeys(doc, {"apiVersion", "kind", "clusters", "contexts", "current-context",
                            "users", "preferences"});
  if (!s.ok()) return fail(s);
  if (doc["preferences"].present() && doc["preferences"].node.size() > 0)
    return fail(doc["preferences"].error("not supported by remora-pilot"));
  std::string current;
  if (!(s = doc["current-context"].getString(current)).ok()) return fail(s);
  if (current.empty()) return fail(doc["current-context"].error("required"));

  auto context = findNamed(doc["contexts"], current, "context");
  if (!context.ok()) return fail(context.status());
  // The context's namespace is kubectl's default for commands; pilot watches all namespaces.
  if (!(s = onlyKeys(*context, {"cluster", "user"})).ok()) return fail(s);
  std::string cluster_name, user_name;
  if (!(s = (*context)["cluster"].getString(cluster_name)).ok()) return fail(s);
  if (!(s = (*context)["user"].getString(user_name)).ok()) return fail(s);

  auto cluster = findNamed(doc["clusters"], cluster_name, "cluster");
  if (!cluster.ok()) return fail(cluster.status());
  if (!(s = onlyKeys(*cluster, {"server", "certificate-authority", "certificate-authority-data",
                                "insecure-skip-tls-verify"}))
           .ok())
    return fail(s);
  TlsOptions tls;
  if (!(s = pemFrom(*cluster, "certificate-authority", path, tls.ca_pem)).ok()) return fail(s);
  if (!(s = (*cluster)["insecure-skip-tls-verify"].getBool(tls.insecure_skip_verify)).ok())
    return fail(s);
  std::string server;
  if (!(s = (*cluster)["server"].getString(server)).ok()) return fail(s);
  if (server.empty()) return fail((*cluster)["server"].error("required"));
  auto url = parseHttpUrl(server);
  if (!url.ok()) return fail(cluster->operator[]("server").error(url.status().message()));

  KubeApiTarget out;
  out.server = server;
  out.url = *url;
  if (!user_name.empty()) {
    auto user = findNamed(doc["users"], user_name, "user");
    if (!user.ok()) return fail(user.status());
    if (!(s = onlyKeys(*user, {"token", "tokenFile", "client-certificate",
                               "client-certificate-data", "client-key", "client-key-data"}))
             .ok())
      return fail(s);
    if (!(s = (*user)["token"].getString(out.token)).ok()) return fail(s);
    if (!(s = (*user)["tokenFile"].getString(out.token_file)).ok()) return fail(s);
    if (!(s = pemFrom(*user, "client-certificate", path, tls.client_cert_pem)).ok()) return fail(s);
    if (!(s = pemFrom(*user, "client-key", path, tls.client_key_pem)).ok()) return fail(s);
    out.token_file = resolve(path, out.token_file);
    if (!out.token_file.empty()) {
      auto token = out.bearerToken();
      if (!token.ok()) return fail((*user)["tokenFile"].error(token.status().message()));
    }
  }
  if (!out.url.tls && (!tls.ca_pem.empty() || !tls.client_cert_pem.empty()))
    return fail((*cluster)["server"].error("certificates are set for an http:// server"));
  auto tls_context = tlsFor(out.url, tls);
  if (!tls_context.ok()) return fail(tls_context.status());
  out.tls = *tls_context;
  return out;
}

}  // namespace remora::pilot
