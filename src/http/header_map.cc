#include "http/header_map.h"

#include <algorithm>
#include <charconv>

namespace remora::http {

namespace {
char lowerChar(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lowerChar(c);
  return out;
}

// Stored keys are lower-case; `key` may be in any case. No allocation: lookups are on every
// request's path.
bool keyEquals(const std::string& stored, std::string_view key) {
  return stored.size() == key.size() &&
         std::equal(stored.begin(), stored.end(), key.begin(),
                    [](char a, char b) { return a == lowerChar(b); });
}

bool isPseudo(std::string_view key) { return !key.empty() && key[0] == ':'; }

// Most requests and responses carry fewer headers than this: one allocation for the entry array.
constexpr size_t kTypicalHeaderCount = 16;
}  // namespace

void HeaderMap::add(std::string_view key, std::string_view value) {
  if (entries_.capacity() == 0) entries_.reserve(kTypicalHeaderCount);
  Entry entry{lower(key), std::string(value)};
  if (isPseudo(entry.key)) {
    auto first_regular = std::find_if(entries_.begin(), entries_.end(),
                                      [](const Entry& e) { return !isPseudo(e.key); });
    entries_.insert(first_regular, std::move(entry));
  } else {
    entries_.push_back(std::move(entry));
  }
}

void HeaderMap::set(std::string_view key, std::string_view value) {
  auto matches = [&](const Entry& e) { return keyEquals(e.key, key); };
  auto it = std::find_if(entries_.begin(), entries_.end(), matches);
  if (it == entries_.end()) {
    add(key, value);
    return;
  }
  it->value.assign(value);
  auto rest = std::remove_if(it + 1, entries_.end(), matches);
  entries_.erase(rest, entries_.end());
}

size_t HeaderMap::remove(std::string_view key) {
  auto rest = std::remove_if(entries_.begin(), entries_.end(),
                             [&](const Entry& e) { return keyEquals(e.key, key); });
  size_t removed = static_cast<size_t>(entries_.end() - rest);
  entries_.erase(rest, entries_.end());
  return removed;
}

const std::string* HeaderMap::get(std::string_view key) const {
  // Keys are stored lower-case; callers pass lower-case names (headers:: constants).
  for (const auto& e : entries_) {
    if (keyEquals(e.key, key)) return &e.value;
  }
  return nullptr;
}

std::vector<std::string_view> HeaderMap::getAll(std::string_view key) const {
  std::vector<std::string_view> out;
  for (const auto& e : entries_) {
    if (keyEquals(e.key, key)) out.emplace_back(e.value);
  }
  return out;
}

size_t HeaderMap::byteSize() const {
  size_t n = 0;
  for (const auto& e : entries_) n += e.key.size() + e.value.size();
  return n;
}

std::optional<uint64_t> HeaderMap::getUint(std::string_view key) const {
  const std::string* v = get(key);
  if (v == nullptr) return std::nullopt;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || end != v->data() + v->size()) return std::nullopt;
  return n;
}

uint32_t HeaderMap::status() const {
  const std::string* v = get(headers::kStatus);
  if (v == nullptr) return 0;
  uint32_t code = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), code);
  return (ec == std::errc() && end == v->data() + v->size()) ? code : 0;
}

}  // namespace remora::http
