#include "remoractl/file_io.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace remora::remoractl {

StatusOr<std::string> readInput(const std::string& path) {
  std::ostringstream content;
  if (path == "-") {
    content << std::cin.rdbuf();
    return content.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::error(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  content << in.rdbuf();
  return content.str();
}

Status writeFile(const std::string& path, const std::string& content) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  if (!out) return Status::error(fmt::format("cannot write {}", path));
  return {};
}

int writeResult(const StatusOr<std::string>& result, const std::string& output,
                const std::string& command, std::ostream& out, std::ostream& err) {
  Status status = result.status();
  if (status.ok() && output == "-") {
    out << result.value();
    return 0;
  }
  if (status.ok()) status = writeFile(output, result.value());
  if (status.ok()) return 0;
  err << "remoractl " << command << ": " << status.message() << "\n";
  return 1;
}

}  // namespace remora::remoractl
