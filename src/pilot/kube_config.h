#pragma once

// Where the Kubernetes API is and how to authenticate to it: `--kube-api-server URL` (https
// verified with the system's CAs), or `--kubeconfig FILE` as kubectl reads it — the current
// context's cluster (`server`, `certificate-authority[-data]`, `insecure-skip-tls-verify`) and
// user (`token` or `tokenFile`, sent as `Authorization: Bearer`; `client-certificate[-data]` and
// `client-key[-data]`). Any other field of the entries used (exec and auth-provider plugins,
// `tls-server-name`, `proxy-url`, ...) is an error naming it.

#include <memory>
#include <string>

#include "common/status.h"
#include "pilot/http_client.h"

namespace remora::pilot {

struct KubeApiTarget {
  std::string server;  // as configured, for logs
  HttpUrl url;
  std::string token;
  std::string token_file;
  std::shared_ptr<const TlsContext> tls;  // for https servers

  // The bearer token for the next request ("" for none); a tokenFile is re-read every time, since
  // projected service account tokens rotate.
  StatusOr<std::string> bearerToken() const;
};

StatusOr<KubeApiTarget> loadKubeconfig(const std::string& path);
StatusOr<KubeApiTarget> kubeApiServer(const std::string& url);

}  // namespace remora::pilot
