#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "init/target.h"

namespace remora::init {

// Waits on a set of targets (Envoy's Init::Manager). Targets added before initialize() start when
// it is called; targets added while it is waiting start at once and are waited on too. When every
// target is ready the done callback runs once, on the thread that made the last target ready
// (the main thread: targets belong to main-thread objects).
class Manager {
 public:
  enum class State { Uninitialized, Initializing, Initialized };

  explicit Manager(std::string name);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Registers a target; a target added after the manager has finished is started and not
  // waited on (it has nothing left to hold up), as an xDS resource added after warming is.
  void add(Target& target);
  // Starts every registered target; `done` runs when all are ready, before returning if none
  // is pending. Called once.
  void initialize(std::function<void()> done);

  State state() const;
  const std::string& name() const;
  // Names of the targets still pending, for logs and /config_dump's warming state.
  std::vector<std::string> pendingTargets() const;

 private:
  struct Shared;
  void startTarget(const std::shared_ptr<Target::State>& target);

  std::shared_ptr<Shared> shared_;
};

}  // namespace remora::init
