#include "core/ssh/host_key.h"

#include <fmt/format.h>

namespace keel::ssh_keys {

std::string server_key_fingerprint(ssh_session session) {
  ssh_key key = nullptr;
  if (ssh_get_server_publickey(session, &key) != SSH_OK) return "an unknown key";
  unsigned char* hash = nullptr;
  size_t hash_len = 0;
  const char* type = ssh_key_type_to_char(ssh_key_type(key));
  std::string out = type ? type : "unknown key type";
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hash_len) == 0) {
    char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hash_len);
    if (text) out += fmt::format(" {}", text);
    ssh_string_free_char(text);
    ssh_clean_pubkey_hash(&hash);
  }
  ssh_key_free(key);
  return out;
}

}  // namespace keel::ssh_keys
