#include "admin/admin_handlers.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "admin/stats_render.h"
#include "admin/status_render.h"
#include "common/logger.h"

namespace remora::admin {

namespace {

AdminResponse text(uint16_t code, std::string body) {
  AdminResponse r;
  r.code = code;
  r.body = std::move(body);
  return r;
}

AdminResponse json(StatusOr<std::string> body) {
  if (!body.ok()) return text(500, body.status().message() + "\n");
  AdminResponse r;
  r.content_type = std::string(kJsonContentType);
  r.body = std::move(body).value();
  return r;
}

bool wantsJson(const QueryParams& params) {
  auto format = params.get("format");
  return format.has_value() && *format == "json";
}

}  // namespace

AdminHandlers::AdminHandlers(server::Instance& server) : server_(server) {
  handlers_ = {
      {"/", "Admin home page", false, &AdminHandlers::help},
      {"/clusters", "upstream cluster status", false, &AdminHandlers::clusters},
      {"/config_dump", "dump current Envoy configs (experimental)", false,
       &AdminHandlers::configDump},
      {"/drain_listeners", "drain listeners", true, &AdminHandlers::drainListeners},
      {"/healthcheck/fail", "cause the server to fail health checks", true,
       &AdminHandlers::healthcheckFail},
      {"/healthcheck/ok", "cause the server to pass health checks", true,
       &AdminHandlers::healthcheckOk},
      {"/help", "print out list of admin commands", false, &AdminHandlers::help},
      {"/listeners", "print listener info", false, &AdminHandlers::listeners},
      {"/logging", "query/change logging levels", true, &AdminHandlers::logging},
      {"/quitquitquit", "exit the server", true, &AdminHandlers::quitQuitQuit},
      {"/reopen_logs", "reopen access logs", true, &AdminHandlers::reopenLogs},
      {"/ready", "print server state, return 200 if LIVE, otherwise return 503", false,
       &AdminHandlers::ready},
      {"/server_info", "print server version/status information", false,
       &AdminHandlers::serverInfo},
      {"/stats", "print server stats", false, &AdminHandlers::stats},
      {"/stats/prometheus", "print server stats in prometheus format", false,
       &AdminHandlers::statsPrometheus},
  };
  std::sort(handlers_.begin(), handlers_.end(),
            [](const Handler& a, const Handler& b) { return a.path < b.path; });
}

std::string AdminHandlers::helpText() const {
  std::string out = "admin commands are:\n";
  for (const Handler& h : handlers_) out += fmt::format("  {}: {}\n", h.path, h.help);
  return out;
}

AdminResponse AdminHandlers::handle(std::string_view method, std::string_view target) {
  auto [path, query] = splitPathAndQuery(target);
  for (const Handler& h : handlers_) {
    if (h.path != path) continue;
    if (h.mutates && method != "POST") {
      return text(405, fmt::format("Method {} not allowed, POST required.", method));
    }
    return (this->*h.fn)(QueryParams::parse(query));
  }
  return text(404, "invalid path. " + helpText());
}

AdminResponse AdminHandlers::help(const QueryParams&) { return text(200, helpText()); }

AdminResponse AdminHandlers::ready(const QueryParams&) {
  const auto state = server_.state();
  // State names are already upper case (LIVE, DRAINING, PRE_INITIALIZING, INITIALIZING).
  return text(state == envoy::admin::v3::ServerInfo::LIVE ? 200 : 503,
              envoy::admin::v3::ServerInfo::State_Name(state) + "\n");
}

AdminResponse AdminHandlers::serverInfo(const QueryParams&) {
  return json(toAdminJson(server_.serverInfo(), /*always_print_primitive_fields=*/true));
}

AdminResponse AdminHandlers::stats(const QueryParams& params) {
  auto filter = StatsFilter::create(params.get("filter").value_or(""), params.has("usedonly"));
  if (!filter.ok()) return text(400, filter.status().message() + "\n");
  auto format = params.get("format");
  if (!format.has_value() || *format == "text") {
    return text(200, renderStatsText(server_.stats(), filter.value()));
  }
  if (*format == "json") return json(renderStatsJson(server_.stats(), filter.value()));
  if (*format == "prometheus") {
    return text(200, renderStatsPrometheus(server_.stats(), filter.value()));
  }
  return text(404, "usage: /stats?format=(json|prometheus|text)&filter=<regex>&usedonly\n");
}

AdminResponse AdminHandlers::statsPrometheus(const QueryParams& params) {
  auto filter = StatsFilter::create(params.get("filter").value_or(""), params.has("usedonly"));
  if (!filter.ok()) return text(400, filter.status().message() + "\n");
  return text(200, renderStatsPrometheus(server_.stats(), filter.value()));
}

AdminResponse AdminHandlers::clusters(const QueryParams& params) {
  if (wantsJson(params)) return json(toAdminJson(server_.clusterStatuses()));
  return text(200, renderClustersText(server_.clusterStatuses(), server_.outlierFigures()));
}

AdminResponse AdminHandlers::listeners(const QueryParams& params) {
  if (wantsJson(params)) return json(toAdminJson(server_.listenerStatuses()));
  return text(200, renderListenersText(server_.listenerStatuses()));
}

AdminResponse AdminHandlers::configDump(const QueryParams&) {
  return json(toAdminJson(server_.configDump()));
}

AdminResponse AdminHandlers::quitQuitQuit(const QueryParams&) {
  AdminResponse r = text(200, "OK\n");
  server::Instance& server = server_;
  r.after_response = [&server] { server.shutdown(); };
  return r;
}

AdminResponse AdminHandlers::healthcheckFail(const QueryParams&) {
  server_.setHealthCheckFailed(true);
  return text(200, "OK\n");
}

AdminResponse AdminHandlers::healthcheckOk(const QueryParams&) {
  server_.setHealthCheckFailed(false);
  return text(200, "OK\n");
}

AdminResponse AdminHandlers::drainListeners(const QueryParams& params) {
  server_.drainListeners(params.has("inboundonly"), params.has("graceful"));
  return text(200, "OK\n");
}

AdminResponse AdminHandlers::reopenLogs(const QueryParams&) {
  server_.reopenAccessLogs();
  return text(200, "OK\n");
}

AdminResponse AdminHandlers::logging(const QueryParams& params) {
  // Remora has one level for all loggers, so "level" is the only parameter (Envoy's
  // /logging?level=X); per-logger names are accepted only for the loggers that exist.
  for (const auto& [key, value] : params.all()) {
    spdlog::level::level_enum level;
    if (!log::parseLevel(value, level)) {
      return text(404,
                  "usage: /logging?level=<level> (change all levels)\n"
                  "levels: trace debug info warning error critical off\n");
    }
    if (key == "level") {
      log::setLevel(level);
    } else if (auto logger = spdlog::get(key); logger != nullptr) {
      logger->set_level(level);
    } else {
      return text(404, "unknown logger: " + key + "\n");
    }
  }
  std::string out = "active loggers:\n";
  std::vector<std::pair<std::string, std::string>> loggers;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
    if (l->name().empty()) return;  // spdlog's unnamed default before log::init()
    auto name = spdlog::level::to_string_view(l->level());
    loggers.emplace_back(l->name(), std::string(name.data(), name.size()));
  });
  if (loggers.empty()) {
    auto name = spdlog::level::to_string_view(log::level());
    loggers.emplace_back("remora", std::string(name.data(), name.size()));
  }
  std::sort(loggers.begin(), loggers.end());
  for (const auto& [name, level] : loggers) out += fmt::format("  {}: {}\n", name, level);
  return text(200, out);
}

}  // namespace remora::admin
