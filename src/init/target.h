#pragma once

#include <functional>
#include <memory>
#include <string>

namespace remora::init {

// Something that must finish before what waits on it may go ahead (Envoy's Init::Target): a
// cluster's first DNS answer, first EDS load or first health-check round; a listener's first RDS
// response; a subscription's first fetch (or its initial_fetch_timeout). The owner builds a
// Target with the work to start, registers it with a Manager, and calls ready() when done.
//
// A Target that dies before calling ready() counts as ready: a cluster removed while warming must
// not hold the server in INITIALIZING forever.
class Target {
 public:
  using InitializeFn = std::function<void()>;

  Target(std::string name, InitializeFn initialize);
  ~Target();
  Target(const Target&) = delete;
  Target& operator=(const Target&) = delete;

  // Done: the manager that initialized this target stops waiting on it. Before initialize has
  // been called, it marks the target as already satisfied, so initialize will not run it.
  // Later calls do nothing.
  void ready();

  const std::string& name() const;
  bool isReady() const;

 private:
  friend class Manager;
  struct State {
    std::string name;
    InitializeFn initialize;
    std::function<void()> on_ready;  // set by the manager when it initializes the target
    bool initialized = false;
    bool ready = false;
  };
  std::shared_ptr<State> state_;
};

}  // namespace remora::init
