// Storage: the bytes behind tensors. Either an owned, 64-byte aligned heap buffer or a read-only
// memory-mapped file; tensors viewing a mapped checkpoint keep the mapping alive via shared_ptr.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"

namespace r1 {

/// How MappedFile::open brings a file into memory.
///  - Mmap: a read-only file mapping (pages load lazily and stay shareable in the page cache).
///  - Copy: read into anonymous memory advised for transparent huge pages. Decode streams every
///    weight once per token; with 2 MiB pages the TLB no longer misses every 4 KiB, which made
///    1.5B Q4_0 decode about 7% faster on Zen4 (same-run A/B, 8 alternating runs). Costs a read
///    of the file at load and memory the page cache cannot reclaim.
///  - Auto: Copy for files of 64 MiB or more that fit in half of MemAvailable, else Mmap (so the
///    largest checkpoints still load lazily). The default of the commands that run a model
///    (cli/load_flags.h); the process default is Mmap, so tools that only read headers or
///    stream a file once (inspect, tokenize, convert) never copy it.
enum class LoadMode { Auto, Mmap, Copy };

/// The process-wide mode MappedFile::open uses (set once by the CLI's --mmap / --no-mmap).
void set_load_mode(LoadMode mode);
LoadMode load_mode();

/// A read-only view of a whole file, mapped or copied per load_mode(). Released when the last
/// owner goes away.
class MappedFile {
 public:
  /// Opens `path` read-only. Errors: missing/unreadable file ("PATH: cannot open: REASON"), a
  /// short read in Copy mode ("PATH: read failed at byte N: REASON"). An empty file gives size 0
  /// with a null data pointer.
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  /// True when the bytes are an anonymous copy (Copy mode), not a file mapping.
  bool copied() const { return copied_; }
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t mapped_len_ = 0;  // length given to munmap (rounded up to 2 MiB for a copy)
  bool copied_ = false;
};

/// Bytes that tensors point into: owned (aligned heap) or borrowed from a MappedFile.
class Storage {
 public:
  /// Allocates `bytes` zeroed bytes, 64-byte aligned.
  static std::shared_ptr<Storage> allocate(size_t bytes);
  /// Views `bytes` bytes of `file` from `offset`; precondition: offset + bytes <= file->size().
  static std::shared_ptr<Storage> view(std::shared_ptr<MappedFile> file, size_t offset, size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  uint8_t* data() { return data_; }  // writable only for owned storage
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool owned() const { return owned_; }

 private:
  Storage() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  bool owned_ = false;
  std::shared_ptr<MappedFile> file_;
};

/// Writes `size` bytes to `path` atomically: a temporary file in the same folder, fsync, rename.
Result<void> write_file_atomic(const std::string& path, const void* data, size_t size);

}  // namespace r1
