#include "storage/key_encoding.h"

#include <cstring>

namespace wake {

std::string SessionKey(const IdBytes& session) {
  return std::string(reinterpret_cast<const char*>(session.data()), session.size());
}

std::string EventKey(const IdBytes& session, uint64_t seq) {
  std::string key = SessionKey(session);
  key.resize(kEventKeySize);
  for (int i = 0; i < 8; ++i) {
    key[kSessionKeySize + i] = static_cast<char>(seq >> (56 - 8 * i));
  }
  return key;
}

bool DecodeEventKey(std::string_view key, IdBytes* session, uint64_t* seq) {
  if (key.size() != kEventKeySize) return false;
  std::memcpy(session->data(), key.data(), kSessionKeySize);
  uint64_t v = 0;
  for (size_t i = kSessionKeySize; i < kEventKeySize; ++i) {
    v = (v << 8) | static_cast<uint8_t>(key[i]);
  }
  *seq = v;
  return true;
}

}  // namespace wake
