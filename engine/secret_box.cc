#include "engine/secret_box.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace wake {
namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat("vault key ", path, ": ", ToAbsl(what), ": ", std::strerror(errno)));
}

const unsigned char* Bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

absl::StatusOr<std::string> ReadKeyFile(const std::string& path, int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return Errno("stat", path);
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return absl::FailedPreconditionError(
        absl::StrCat("vault key ", path, " may be read by group or others (mode ", mode, "); chmod 600 it"));
  }
  std::string key(SecretBox::kKeyBytes + 1, '\0');
  size_t got = 0;
  while (got < key.size()) {
    const ssize_t n = read(fd, key.data() + got, key.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read", path);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got != SecretBox::kKeyBytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("vault key ", path, " must hold exactly ", SecretBox::kKeyBytes, " bytes"));
  }
  key.resize(got);
  return key;
}

absl::StatusOr<std::string> CreateKeyFile(const std::string& path, bool* raced) {
  std::string key(SecretBox::kKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1) {
    return absl::InternalError("vault key: the CSPRNG failed");
  }
  // O_EXCL: two processes creating the key at once must not each keep a different one.
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) {
    *raced = true;
    return std::string();
  }
  if (fd < 0) return Errno("create", path);
  size_t put = 0;
  while (put < key.size()) {
    const ssize_t n = write(fd, key.data() + put, key.size() - put);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      unlink(path.c_str());
      return Errno("write", path);
    }
    put += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    close(fd);
    unlink(path.c_str());
    return Errno("fsync", path);
  }
  close(fd);
  // The new name must survive a crash too, or sealed values would outlive their key.
  const std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
  if (const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return key;
}

}  // namespace

absl::StatusOr<SecretBox> SecretBox::FromKey(std::string key) {
  if (key.size() != kKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat("vault key: must be ", kKeyBytes, " bytes, not ", key.size()));
  }
  return SecretBox(std::move(key));
}

absl::StatusOr<SecretBox> SecretBox::LoadOrCreateKeyFile(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      absl::StatusOr<std::string> key = ReadKeyFile(path, fd);
      close(fd);
      if (!key.ok()) return key.status();
      return SecretBox(*std::move(key));
    }
    if (errno != ENOENT) return Errno("open", path);
    bool raced = false;
    absl::StatusOr<std::string> key = CreateKeyFile(path, &raced);
    if (!key.ok()) return key.status();
    if (!raced) return SecretBox(*std::move(key));
  }
  return absl::InternalError(absl::StrCat("vault key ", path, ": could not be opened or created"));
}

absl::StatusOr<std::string> SecretBox::Seal(std::string_view plaintext, std::string_view context) const {
  std::string out(kNonceBytes + plaintext.size() + kTagBytes, '\0');
  auto* base = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(base, kNonceBytes) != 1) return absl::InternalError("vault: the CSPRNG failed");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key_), base) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, Bytes(context), static_cast<int>(context.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), base + kNonceBytes, &len, Bytes(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), base + kNonceBytes + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, base + kNonceBytes + plaintext.size()) != 1) {
    return absl::InternalError("vault: AES-256-GCM encryption failed");
  }
  return out;
}

absl::StatusOr<std::string> SecretBox::Open(std::string_view sealed, std::string_view context) const {
  if (sealed.size() < kNonceBytes + kTagBytes) return absl::DataLossError("vault: a sealed value is truncated");
  const size_t n = sealed.size() - kNonceBytes - kTagBytes;
  std::string out(n, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  const unsigned char* src = Bytes(sealed);
  std::string tag(sealed.substr(kNonceBytes + n));
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key_), src) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, Bytes(context), static_cast<int>(context.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), dst, &len, src + kNonceBytes, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), dst + len, &len) != 1) {
    return absl::DataLossError("vault: a sealed value does not open under this key (wrong vault key, or altered)");
  }
  return out;
}

}  // namespace wake
