#include "remoractl/command.h"

#include <fmt/format.h>

#include <algorithm>

namespace remora::remoractl {
namespace {

std::vector<Command>& registry() {
  static auto* commands = new std::vector<Command>();
  return *commands;
}

std::string listing() {
  std::string out =
      "remoractl: Remora's operator CLI (pod plumbing today; mesh operations later).\n\n"
      "Usage: remoractl <command> [flags]\n\nCommands:\n";
  for (const auto& command : commands()) {
    out += fmt::format("  {:<14} {}\n", command.name, command.summary);
  }
  out += "\nRun 'remoractl <command> --help' for a command's flags.\n";
  return out;
}

}  // namespace

RegisterCommand::RegisterCommand(Command command) { registry().push_back(std::move(command)); }

std::vector<Command> commands() {
  auto sorted = registry();
  std::sort(sorted.begin(), sorted.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  return sorted;
}

int dispatch(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << listing();
    return kUsageError;
  }
  const std::string& name = args[0];
  if (name == "help" || name == "-h" || name == "--help") {
    out << listing();
    return 0;
  }
  for (const auto& command : registry()) {
    if (command.name == name) {
      return command.run(std::vector<std::string>(args.begin() + 1, args.end()), out, err);
    }
  }
  err << "remoractl: unknown command '" << name << "'\n\n" << listing();
  return kUsageError;
}

}  // namespace remora::remoractl
