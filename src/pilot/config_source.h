#pragma once

// Where the model's objects come from. The directory of manifests (dir_source.h) is the default;
// a Kubernetes API list+watch source implements the same interface.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pilot/model.h"
#include "pilot/objects.h"

namespace remora::pilot {

// The complete accepted state after a change, with what changed since the previous delivery.
struct SourceSnapshot {
  std::map<ObjectKey, Object> objects;
  std::vector<SourceError> errors;
  std::set<ObjectKey> changed;  // added, modified or removed keys (may over-approximate)
};

class ConfigSource {
 public:
  using Callback = std::function<void(SourceSnapshot)>;
  virtual ~ConfigSource() = default;

  // Loads the initial state, delivers it to `on_change` before returning, then keeps delivering
  // every later change from the source's own thread until stop().
  virtual void start(Callback on_change) = 0;
  // Stops watching; no callback runs after it returns.
  virtual void stop() = 0;
};

}  // namespace remora::pilot
