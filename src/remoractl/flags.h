#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace remora::remoractl {

// One subcommand's flags, parsed the way istio-iptables' (cobra/pflag) command line is: `-p 15001`,
// `-p15001`, `--envoy-port 15001`, `--envoy-port=15001`; booleans take no value (`--dry-run`).
// Unknown flags and positional arguments are errors, so a typo never silently changes nothing.
class FlagSet {
 public:
  explicit FlagSet(std::string command) : command_(std::move(command)) {}

  // short_name 0 means long name only. The target's current value is the default (shown in help).
  void addString(std::string long_name, char short_name, std::string* target, std::string help);
  void addBool(std::string long_name, char short_name, bool* target, std::string help);
  // Another long name for an existing flag (e.g. istio-iptables' --cleanup-only for --cleanup).
  void addAlias(std::string alias, const std::string& long_name);

  // Parses args (argv after the subcommand). `-h`/`--help` sets helpRequested() and stops.
  // With allow_rest, everything after a bare `--` goes to rest() (arguments passed through).
  Status parse(const std::vector<std::string>& args, bool allow_rest = false);

  bool helpRequested() const { return help_; }
  bool wasSet(const std::string& long_name) const;
  const std::vector<std::string>& rest() const { return rest_; }
  // "Usage: remoractl <command> [flags]" and one line per flag with its default.
  std::string usage(const std::string& summary) const;

 private:
  struct Flag {
    std::string long_name;
    char short_name;
    std::string* string_target = nullptr;
    bool* bool_target = nullptr;
    std::string help;
    std::string default_value;
    bool set = false;
  };
  Flag* find(const std::string& long_name);
  Flag* findShort(char short_name);
  Status assign(Flag& flag, const std::string& value);

  std::string command_;
  std::vector<Flag> flags_;
  std::map<std::string, std::string> aliases_;
  std::vector<std::string> rest_;
  bool help_ = false;
};

// Comma-separated list, empty items dropped and spaces trimmed ("15090, 15021," -> 2 items).
std::vector<std::string> splitList(const std::string& value);

}  // namespace remora::remoractl
