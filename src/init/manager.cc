#include "init/manager.h"

#include <algorithm>

#include "common/assert.h"
#include "common/logger.h"

namespace remora::init {

Target::Target(std::string name, InitializeFn initialize)
    : state_(std::make_shared<State>(State{std::move(name), std::move(initialize), {}})) {}

Target::~Target() { ready(); }

void Target::ready() {
  if (state_->ready) return;
  state_->ready = true;
  if (state_->on_ready) {
    auto on_ready = std::move(state_->on_ready);
    state_->on_ready = nullptr;
    on_ready();
  }
}

const std::string& Target::name() const { return state_->name; }
bool Target::isReady() const { return state_->ready; }

// Shared with the callbacks handed to targets, so a target that outlives its manager calls
// into nothing.
struct Manager::Shared {
  std::string name;
  State state = State::Uninitialized;
  std::vector<std::shared_ptr<Target::State>> targets;
  size_t pending = 0;
  std::function<void()> done;

  void onTargetReady() {
    RELEASE_ASSERT(pending > 0, "init manager: more ready() calls than targets");
    if (--pending == 0 && state == State::Initializing) finish();
  }
  void finish() {
    state = State::Initialized;
    LOG_DEBUG("init manager {}: initialized", name);
    targets.clear();
    if (done) {
      auto callback = std::move(done);
      done = nullptr;
      callback();
    }
  }
};

Manager::Manager(std::string name) : shared_(std::make_shared<Shared>()) {
  shared_->name = std::move(name);
}

Manager::~Manager() = default;

void Manager::add(Target& target) {
  if (shared_->state == State::Initialized) {
    // Nothing waits any more; the target still has its work to do.
    if (!target.state_->initialized && !target.state_->ready) {
      target.state_->initialized = true;
      if (target.state_->initialize) target.state_->initialize();
    }
    return;
  }
  shared_->targets.push_back(target.state_);
  if (shared_->state == State::Initializing) startTarget(target.state_);
}

void Manager::initialize(std::function<void()> done) {
  RELEASE_ASSERT(shared_->state == State::Uninitialized, "init manager initialized twice");
  shared_->state = State::Initializing;
  shared_->done = std::move(done);
  // Count first, so a target that becomes ready synchronously cannot finish the manager while
  // others have not started.
  auto targets = shared_->targets;
  shared_->pending += 1;
  for (const auto& target : targets) startTarget(target);
  shared_->onTargetReady();  // the guard taken above
}

void Manager::startTarget(const std::shared_ptr<Target::State>& target) {
  if (target->ready) return;  // became ready before anyone asked
  ++shared_->pending;
  std::weak_ptr<Shared> weak = shared_;
  target->on_ready = [weak] {
    if (auto shared = weak.lock()) shared->onTargetReady();
  };
  if (!target->initialized) {
    target->initialized = true;
    if (target->initialize) target->initialize();
  }
}

Manager::State Manager::state() const { return shared_->state; }
const std::string& Manager::name() const { return shared_->name; }

std::vector<std::string> Manager::pendingTargets() const {
  std::vector<std::string> names;
  for (const auto& target : shared_->targets) {
    if (!target->ready) names.push_back(target->name);
  }
  return names;
}

}  // namespace remora::init
