#pragma once

#include <string>
#include <vector>

#include "config/extension_registry.h"

namespace remora::config {

// Renders docs/compatibility.md: the registered extensions, then, for every message reachable from
// Bootstrap through supported fields, every extension config type and every other message in the
// supported-fields table, a table of its fields marked supported / not supported (with allowed
// enum values). Deterministic, so a test can compare it with the committed file.
std::string compatibilityMarkdown(const std::vector<const Extension*>& extensions);

// The same for every extension in ExtensionRegistry.
std::string compatibilityMarkdown();

}  // namespace remora::config
