#include "http/header_map.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "common/ascii_words.h"

namespace remora::http {

namespace {
// ASCII lower-casing by table: one load per character, no branch (names are lower-cased on
// every insertion and compared on every lookup).
constexpr auto kLower = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) t[c] = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return t;
}();
char lowerChar(char c) { return kLower[static_cast<unsigned char>(c)]; }

using ascii::load4;
using ascii::load8;
using ascii::lowerWord;

void store8(char* p, uint64_t w) { std::memcpy(p, &w, 8); }
void store4(char* p, uint32_t w) { std::memcpy(p, &w, 4); }

// Lower-cases a name a word at a time; a last word that overlaps the one before is folded
// twice, which folding allows. Every header name is lower-cased on insertion.
void lowerInPlace(std::string& s) {
  char* p = s.data();
  const size_t n = s.size();
  if (n >= 8) {
    for (size_t i = 0; i + 8 <= n; i += 8) store8(p + i, lowerWord(load8(p + i)));
    if (n % 8 != 0) store8(p + n - 8, lowerWord(load8(p + n - 8)));
  } else if (n >= 4) {
    store4(p, static_cast<uint32_t>(lowerWord(load4(p))));
    store4(p + n - 4, static_cast<uint32_t>(lowerWord(load4(p + n - 4))));
  } else {
    for (size_t i = 0; i < n; ++i) p[i] = lowerChar(p[i]);
  }
}

// Stored keys are lower-case; `key` may be in any case. Compared a word at a time: a request's
// path looks names up a few dozen times. No allocation.
bool keyEquals(const std::string& stored, std::string_view key) {
  return stored.size() == key.size() &&
         ascii::foldedEqual<true>(stored.data(), key.data(), key.size());
}

bool isPseudo(std::string_view key) { return !key.empty() && key[0] == ':'; }

// Most requests and responses carry fewer headers than this: one allocation for the entry array.
constexpr size_t kTypicalHeaderCount = 16;
}  // namespace

void HeaderMap::add(std::string_view key, std::string_view value) {
  if (entries_.capacity() == 0) entries_.reserve(kTypicalHeaderCount);
  auto position = entries_.end();
  if (isPseudo(key)) {
    position = std::find_if(entries_.begin(), entries_.end(),
                            [](const Entry& e) { return !isPseudo(e.key); });
  }
  // Built in place: no temporary key or entry to move.
  Entry& entry = position == entries_.end() ? entries_.emplace_back(key, value)
                                            : *entries_.emplace(position, key, value);
  lowerInPlace(entry.key);
  key_bits_ |= keyBit(key);
}

void HeaderMap::set(std::string_view key, std::string_view value) {
  if (!mayHave(key)) {
    add(key, value);
    return;
  }
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
  if (!mayHave(key)) return 0;
  auto matches = [&](const Entry& e) { return keyEquals(e.key, key); };
  auto first = std::find_if(entries_.begin(), entries_.end(), matches);
  if (first == entries_.end()) return 0;
  auto rest = std::remove_if(first, entries_.end(), matches);
  size_t removed = static_cast<size_t>(entries_.end() - rest);
  entries_.erase(rest, entries_.end());
  return removed;
}

// Flattened: the word-wise comparison is inlined into the scan (a request looks names up a
// dozen times; most lookups that reach the scan find their name).
[[gnu::flatten]] const std::string* HeaderMap::find(std::string_view key) const {
  for (const auto& e : entries_) {
    if (keyEquals(e.key, key)) return &e.value;
  }
  return nullptr;
}

std::vector<std::string_view> HeaderMap::getAll(std::string_view key) const {
  std::vector<std::string_view> out;
  if (!mayHave(key)) return out;
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
  // Pseudo-headers lead, and a response carries no other: :status is the first entry when there.
  const std::string* v = !entries_.empty() && entries_.front().key == headers::kStatus
                             ? &entries_.front().value
                             : get(headers::kStatus);
  if (v == nullptr) return 0;
  // The usual three digits, read on every response by the router, the connection manager and
  // the codec.
  if (v->size() == 3) {
    const unsigned d0 = static_cast<unsigned char>((*v)[0]) - '0';
    const unsigned d1 = static_cast<unsigned char>((*v)[1]) - '0';
    const unsigned d2 = static_cast<unsigned char>((*v)[2]) - '0';
    if (d0 <= 9 && d1 <= 9 && d2 <= 9) return d0 * 100 + d1 * 10 + d2;
  }
  uint32_t code = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), code);
  return (ec == std::errc() && end == v->data() + v->size()) ? code : 0;
}

}  // namespace remora::http
