#include "remoractl/flags.h"

#include <fmt/format.h>

namespace remora::remoractl {

void FlagSet::addString(std::string long_name, char short_name, std::string* target,
                        std::string help) {
  flags_.push_back({std::move(long_name), short_name, target, nullptr, std::move(help), *target});
}

void FlagSet::addBool(std::string long_name, char short_name, bool* target, std::string help) {
  flags_.push_back({std::move(long_name), short_name, nullptr, target, std::move(help),
                    *target ? "true" : "false"});
}

void FlagSet::addAlias(std::string alias, const std::string& long_name) {
  aliases_[std::move(alias)] = long_name;
}

FlagSet::Flag* FlagSet::find(const std::string& long_name) {
  auto alias = aliases_.find(long_name);
  const std::string& name = alias == aliases_.end() ? long_name : alias->second;
  for (auto& flag : flags_) {
    if (flag.long_name == name) return &flag;
  }
  return nullptr;
}

FlagSet::Flag* FlagSet::findShort(char short_name) {
  for (auto& flag : flags_) {
    if (flag.short_name != 0 && flag.short_name == short_name) return &flag;
  }
  return nullptr;
}

bool FlagSet::wasSet(const std::string& long_name) const {
  for (const auto& flag : flags_) {
    if (flag.long_name == long_name) return flag.set;
  }
  return false;
}

Status FlagSet::assign(Flag& flag, const std::string& value) {
  flag.set = true;
  if (flag.string_target != nullptr) {
    *flag.string_target = value;
    return {};
  }
  if (value == "true" || value == "1") {
    *flag.bool_target = true;
  } else if (value == "false" || value == "0") {
    *flag.bool_target = false;
  } else {
    return Status::error(fmt::format("--{}: not a boolean: '{}'", flag.long_name, value));
  }
  return {};
}

Status FlagSet::parse(const std::vector<std::string>& args, bool allow_rest) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      help_ = true;
      return {};
    }
    if (arg == "--" && allow_rest) {
      rest_.assign(args.begin() + i + 1, args.end());
      return {};
    }
    Flag* flag = nullptr;
    std::optional<std::string> inline_value;
    std::string shown;
    if (arg.rfind("--", 0) == 0 && arg.size() > 2) {
      const auto eq = arg.find('=');
      const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      if (eq != std::string::npos) inline_value = arg.substr(eq + 1);
      flag = find(name);
      shown = "--" + name;
    } else if (arg.size() >= 2 && arg[0] == '-' && arg[1] != '-') {
      flag = findShort(arg[1]);
      if (arg.size() > 2) inline_value = arg.substr(arg[2] == '=' ? 3 : 2);
      shown = arg.substr(0, 2);
    } else {
      return Status::error(fmt::format("{}: unexpected argument '{}'", command_, arg));
    }
    if (flag == nullptr) {
      return Status::error(
          fmt::format("{}: unknown flag {} (see remoractl {} --help)", command_, shown, command_));
    }
    if (flag->bool_target != nullptr && !inline_value) {
      RETURN_IF_ERROR(assign(*flag, "true"));
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return Status::error(fmt::format("{}: flag {} needs a value", command_, shown));
      }
      inline_value = args[++i];
    }
    RETURN_IF_ERROR(assign(*flag, *inline_value));
  }
  return {};
}

std::string FlagSet::usage(const std::string& summary) const {
  std::string out = fmt::format("Usage: remoractl {} [flags]\n\n{}\n\nFlags:\n", command_, summary);
  for (const auto& flag : flags_) {
    std::string names = flag.short_name != 0
                            ? fmt::format("-{}, --{}", flag.short_name, flag.long_name)
                            : fmt::format("    --{}", flag.long_name);
    std::string line = fmt::format("  {:<44} {}", names, flag.help);
    if (flag.string_target != nullptr && !flag.default_value.empty()) {
      line += fmt::format(" (default \"{}\")", flag.default_value);
    }
    out += line + "\n";
  }
  for (const auto& [alias, name] : aliases_) {
    out += fmt::format("  {:<44} same as --{}\n", "    --" + alias, name);
  }
  out += fmt::format("  {:<44} this help\n", "-h, --help");
  return out;
}

std::vector<std::string> splitList(const std::string& value) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= value.size()) {
    size_t end = value.find(',', start);
    if (end == std::string::npos) end = value.size();
    std::string item = value.substr(start, end - start);
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
    start = end + 1;
  }
  return out;
}

}  // namespace remora::remoractl
