// Storage: the bytes behind tensors. Either an owned, 64-byte aligned heap buffer or a read-only
// memory-mapped file; tensors viewing a mapped checkpoint keep the mapping alive via shared_ptr.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"

namespace r1 {

/// A read-only memory map of a whole file. Unmapped when the last owner goes away.
class MappedFile {
 public:
  /// Maps `path` read-only. Errors: missing/unreadable file ("PATH: cannot open: REASON").
  /// An empty file maps to size 0 with a null data pointer.
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
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
