// Prints docs/compatibility.md: what of the Envoy v3 API remora supports.
//   build/bin/gen_compat > docs/compatibility.md
#include <cstdio>

#include "config/compat_table.h"

int main() {
  std::fputs(remora::config::compatibilityMarkdown().c_str(), stdout);
  return 0;
}
