#include "core/storage.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace r1 {

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return make_error("{}: cannot stat: {}", path, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error("{}: not a regular file", path);
  }
  std::shared_ptr<MappedFile> mf(new MappedFile());
  mf->path_ = path;
  mf->size_ = size_t(st.st_size);
  if (mf->size_ > 0) {
    void* p = mmap(nullptr, mf->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return make_error("{}: cannot mmap: {}", path, std::strerror(e));
    }
    mf->data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return mf;
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), size_);
}

std::shared_ptr<Storage> Storage::allocate(size_t bytes) {
  std::shared_ptr<Storage> s(new Storage());
  const size_t rounded = (bytes + 63) / 64 * 64;
  s->data_ = static_cast<uint8_t*>(std::aligned_alloc(64, rounded == 0 ? 64 : rounded));
  if (!s->data_) throw std::bad_alloc();
  std::memset(s->data_, 0, rounded == 0 ? 64 : rounded);
  s->size_ = bytes;
  s->owned_ = true;
  return s;
}

std::shared_ptr<Storage> Storage::view(std::shared_ptr<MappedFile> file, size_t offset, size_t bytes) {
  std::shared_ptr<Storage> s(new Storage());
  s->data_ = const_cast<uint8_t*>(file->data()) + offset;
  s->size_ = bytes;
  s->owned_ = false;
  s->file_ = std::move(file);
  return s;
}

Storage::~Storage() {
  if (owned_) std::free(data_);
}

Result<void> write_file_atomic(const std::string& path, const void* data, size_t size) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error("{}: cannot create: {}", tmp, std::strerror(errno));
  const auto* p = static_cast<const uint8_t*>(data);
  size_t left = size;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error("{}: write failed: {}", tmp, std::strerror(e));
    }
    p += n;
    left -= size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return make_error("{}: cannot flush to disk", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return make_error("{}: cannot rename into place: {}", path, std::strerror(e));
  }
  return {};
}

}  // namespace r1
