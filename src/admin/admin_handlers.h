#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_request.h"
#include "server/instance.h"

namespace remora::admin {

// Envoy's admin endpoints as a table of (path, help, POST-only, handler) against a
// server::Instance. Transport-free: the admin listener (or a test) passes method and target and
// writes out the AdminResponse.
class AdminHandlers {
 public:
  explicit AdminHandlers(server::Instance& server);

  // Routes one request by exact path. Unknown paths are 404 with the help text; a GET on a
  // state-changing endpoint is 405, both with Envoy's wording.
  AdminResponse handle(std::string_view method, std::string_view target);

  // "admin commands are:" followed by one line per endpoint, in path order.
  std::string helpText() const;

 private:
  using HandlerFn = AdminResponse (AdminHandlers::*)(const QueryParams&);
  struct Handler {
    std::string_view path;
    std::string_view help;
    bool mutates;  // POST required, as Envoy's mutates_server_state
    HandlerFn fn;
  };

  AdminResponse help(const QueryParams&);
  AdminResponse ready(const QueryParams&);
  AdminResponse serverInfo(const QueryParams&);
  AdminResponse stats(const QueryParams&);
  AdminResponse statsPrometheus(const QueryParams&);
  AdminResponse clusters(const QueryParams&);
  AdminResponse listeners(const QueryParams&);
  AdminResponse configDump(const QueryParams&);
  AdminResponse quitQuitQuit(const QueryParams&);
  AdminResponse healthcheckFail(const QueryParams&);
  AdminResponse healthcheckOk(const QueryParams&);
  AdminResponse drainListeners(const QueryParams&);
  AdminResponse logging(const QueryParams&);
  AdminResponse reopenLogs(const QueryParams&);

  server::Instance& server_;
  std::vector<Handler> handlers_;  // sorted by path
};

}  // namespace remora::admin
