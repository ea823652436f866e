#include "core/storage.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace r1 {

namespace {

std::atomic<LoadMode> g_load_mode{LoadMode::Mmap};

// MemAvailable from /proc/meminfo in bytes; 0 when unknown.
size_t mem_available() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  size_t kib = 0;
  while (f >> key >> kib) {
    if (key == "MemAvailable:") return kib << 10;
    f.ignore(256, '\n');
  }
  return 0;
}

bool should_copy(size_t size) {
  const LoadMode mode = g_load_mode.load();
  if (mode != LoadMode::Auto) return mode == LoadMode::Copy;
  return size >= (size_t(64) << 20) && size <= mem_available() / 2;
}

}  // namespace

void set_load_mode(LoadMode mode) { g_load_mode.store(mode); }
LoadMode load_mode() { return g_load_mode.load(); }

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
  if (mf->size_ > 0 && should_copy(mf->size_)) {
    const size_t huge = size_t(2) << 20, len = (mf->size_ + huge - 1) / huge * huge;
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {  // else fall back to a file mapping below
      madvise(p, len, MADV_HUGEPAGE);  // advisory: without THP this is an ordinary copy
      auto* dst = static_cast<uint8_t*>(p);
      for (size_t off = 0; off < mf->size_;) {
        const ssize_t n = pread(fd, dst + off, std::min(mf->size_ - off, size_t(1) << 30),
                                off_t(off));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          const int e = errno;
          munmap(p, len);
          ::close(fd);
          return make_error("{}: read failed at byte {}: {}", path, off,
                            n == 0 ? "file shrank while loading" : std::strerror(e));
        }
        off += size_t(n);
      }
      mprotect(p, len, PROT_READ);  // the bytes stay read-only, as with a file mapping
      mf->data_ = dst;
      mf->mapped_len_ = len;
      mf->copied_ = true;
      ::close(fd);
      return mf;
    }
  }
  if (mf->size_ > 0) {
    void* p = mmap(nullptr, mf->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      return make_error("{}: cannot mmap: {}", path, std::strerror(e));
    }
    mf->data_ = static_cast<const uint8_t*>(p);
    mf->mapped_len_ = mf->size_;
  }
  ::close(fd);
  return mf;
}

MappedFile::~MappedFile() {
  if (data_) munmap(const_cast<uint8_t*>(data_), mapped_len_);
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
