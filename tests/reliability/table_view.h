// The name table of a backing directory (core/name_table.h) as the tests see
// it: the file mapped read-write, as every process maps it, to find the slot
// of a name or to plant a bucket lock's holder.
#pragma once

#include <cstdint>
#include <string>

#include "name_table.h"

namespace lambshm::test {

class TableView {
 public:
  // The table of this euid in `dir`; mapped() is false when there is none.
  explicit TableView(const std::string& dir);
  ~TableView();
  TableView(const TableView&) = delete;
  TableView& operator=(const TableView&) = delete;

  bool mapped() const { return t_.base != nullptr; }
  // The home bucket of a file name ("NAME", "sem.NAME"): FNV-1a, as
  // documented in name_table.h, computed here so that a slot found proves both agree.
  static uint32_t bucket_of(const std::string& file);
  name_table::BucketLock* lock(const std::string& file) const { return t_.lock(bucket_of(file)); }
  // The live slot of `file`, or nullptr (also when there is no table).
  name_table::Slot* live(const std::string& file) const;
  // Whether a live slot names the memfd of inode `ino`.
  bool names_inode(uint64_t ino) const;

 private:
  name_table::Table t_{nullptr};
};

}  // namespace lambshm::test
