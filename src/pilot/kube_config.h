#pragma once

// Where the Kubernetes API is and how to authenticate to it: `--kube-api-server URL`, or
// `--kubeconfig FILE` as kubectl reads it — the current context's cluster `server` and user
// `token` or `tokenFile` (sent as `Authorization: Bearer`). Any other field of the entries used
// (client certificates, exec and auth-provider plugins, CA data, ...) is an error naming it.

#include <string>

#include "common/status.h"
#include "pilot/http_client.h"

namespace remora::pilot {

struct KubeApiTarget {
  std::string server;  // as configured, for logs
  HttpUrl url;
  std::string token;
  std::string token_file;

  // The bearer token for the next request ("" for none); a tokenFile is re-read every time, since
  // projected service account tokens rotate.
  StatusOr<std::string> bearerToken() const;
};

StatusOr<KubeApiTarget> loadKubeconfig(const std::string& path);
StatusOr<KubeApiTarget> kubeApiServer(const std::string& url);

}  // namespace remora::pilot
