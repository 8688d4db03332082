#include "server/drain_decision.h"

#include <vector>

namespace remora::server {

void DrainCallbacks::add(Callback& cb) {
  if (cb.linked_) return;
  cb.linked_ = true;
  cb.prev_ = nullptr;
  cb.next_ = head_;
  if (head_ != nullptr) head_->prev_ = &cb;
  head_ = &cb;
}

void DrainCallbacks::remove(Callback& cb) {
  if (!cb.linked_) return;
  cb.linked_ = false;
  if (cb.prev_ != nullptr) {
    cb.prev_->next_ = cb.next_;
  } else {
    head_ = cb.next_;
  }
  if (cb.next_ != nullptr) cb.next_->prev_ = cb.prev_;
  cb.prev_ = cb.next_ = nullptr;
}

void DrainCallbacks::notify() {
  // Collected first: a callback may close its connection, which unregisters others' neighbours.
  std::vector<Callback*> due;
  for (Callback* cb = head_; cb != nullptr; cb = cb->next_) {
    if (cb->drainDecision().draining()) due.push_back(cb);
  }
  for (Callback* cb : due) remove(*cb);
  for (Callback* cb : due) cb->onDrainClose();
}

}  // namespace remora::server
