// The card key: 32 random bytes that turn a PAN into its token (HMAC-SHA256). The key never
// leaves the key file and the process; the tokens are what the store writes.
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "storage/codec.h"
#include "storage/store.h"

namespace kytkin::storage {
namespace {

constexpr size_t kCardKeyBytes = 32;

Status Errno(std::string_view what, const std::string& path) {
  return Status::IOError(std::string(what) + " " + path + ": " + std::strerror(errno));
}

}  // namespace

Result<std::string> LoadOrCreateCardKey(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    std::array<unsigned char, kCardKeyBytes> key{};
    if (RAND_bytes(key.data(), key.size()) != 1) return Status::Internal("RAND_bytes failed");
    // O_EXCL: two processes racing to create the key must not both win with different keys.
    int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
      if (errno != EEXIST) return Errno("cannot create card key file", path);
    } else {
      const ssize_t n = ::write(out, key.data(), key.size());
      const bool synced = ::fsync(out) == 0;
      ::close(out);
      if (n != static_cast<ssize_t>(key.size()) || !synced) {
        ::unlink(path.c_str());
        return Errno("cannot write card key file", path);
      }
    }
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) return Errno("cannot open card key file", path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Errno("cannot stat card key file", path);
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return Status::FailedPrecondition("card key file " + path +
                                      " is readable by group or others (want mode 0600)");
  }
  std::string key(kCardKeyBytes + 1, '\0');
  const ssize_t n = ::read(fd, key.data(), key.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(kCardKeyBytes)) {
    return Status::InvalidArgument("card key file " + path + " must hold exactly 32 bytes");
  }
  key.resize(kCardKeyBytes);
  return key;
}

std::string CardTokenFor(std::string_view card_key, std::string_view pan_digits) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), card_key.data(), static_cast<int>(card_key.size()),
       reinterpret_cast<const unsigned char*>(pan_digits.data()), pan_digits.size(), mac.data(),
       &mac_len);
  return codec::Hex(std::string_view(reinterpret_cast<const char*>(mac.data()), mac_len));
}

}  // namespace kytkin::storage
