#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "common/assert.h"

namespace remora {

// An error as a value: config paths never throw. The message names the config field path
// (e.g. "static_resources.listeners[0].filter_chains[0]: ...") so users can find the fault.
class Status {
 public:
  Status() = default;
  static Status error(std::string message) { return Status(std::move(message)); }

  bool ok() const { return !message_.has_value(); }
  const std::string& message() const {
    RELEASE_ASSERT(message_.has_value(), "message() on an ok Status");
    return *message_;
  }
  // Prefixes the message with a field path, as errors bubble up through nested config.
  Status withPrefix(const std::string& prefix) const {
    return message_ ? Status(prefix + ": " + *message_) : *this;
  }

 private:
  explicit Status(std::string message) : message_(std::move(message)) {}
  std::optional<std::string> message_;
};

// Either a value or an error Status.
template <class T>
class StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : value_(std::move(status)) {  // NOLINT
    RELEASE_ASSERT(!std::get<Status>(value_).ok(), "StatusOr built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  Status status() const { return ok() ? Status() : std::get<Status>(value_); }
  T& value() & { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  const T& value() const& { return std::get<T>(value_); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> value_;
};

}  // namespace remora

#define RETURN_IF_ERROR(expr)      \
  do {                             \
    ::remora::Status s_ = (expr);  \
    if (!s_.ok()) return s_;       \
  } while (false)
