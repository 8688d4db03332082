#pragma once

#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace remora::remoractl {

// One `remoractl <name> [flags]` subcommand. run() gets the arguments after the name and returns
// the process exit code; it writes results to out and diagnostics to err (tests pass strings).
struct Command {
  std::string name;
  std::string summary;
  std::function<int(const std::vector<std::string>& args, std::ostream& out, std::ostream& err)>
      run;
};

// Every subcommand lives in its own file and registers itself here from a static initializer
// (remoractl_lib is an OBJECT library, so every registration is linked):
//   static const RegisterCommand kRegister{{"iptables", "summary", &runIptables}};
class RegisterCommand {
 public:
  explicit RegisterCommand(Command command);
};

// The registered commands, by name.
std::vector<Command> commands();

// `remoractl <command> [flags]`: finds the command and runs it; no command, `help`, `-h` or
// `--help` list the commands; an unknown one is an error (exit 2).
int dispatch(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// The exit code for bad flags, as cobra uses.
inline constexpr int kUsageError = 2;

}  // namespace remora::remoractl
