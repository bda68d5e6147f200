#include "table_view.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace lambshm::test {

TableView::TableView(const std::string& dir) {
  std::string path = dir + "/.lambshm-names.5." + std::to_string(geteuid());
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  void* p = mmap(nullptr, name_table::kTableSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p != MAP_FAILED) t_.base = static_cast<char*>(p);
}

TableView::~TableView() {
  if (t_.base != nullptr) munmap(t_.base, name_table::kTableSize);
}

uint32_t TableView::bucket_of(const std::string& file) {
  uint32_t h = 2166136261u;
  for (unsigned char c : file) h = (h ^ c) * 16777619u;
  return h % name_table::kBuckets;
}

name_table::Slot* TableView::live(const std::string& file) const {
  if (!mapped()) return nullptr;
  uint32_t first = bucket_of(file) * name_table::kSlotsPerBucket;
  for (uint32_t i = first; i < first + name_table::kSlotsPerBucket; ++i) {
    name_table::Slot* s = t_.slot(i);
    if (s->state.load() == name_table::kLive && file == s->name) return s;
  }
  return nullptr;
}

bool TableView::names_inode(uint64_t ino) const {
  for (uint32_t i = 0; mapped() && i < name_table::kSlots; ++i) {
    const name_table::Slot* s = t_.slot(i);
    if (s->state.load() == name_table::kLive && s->ino == ino) return true;
  }
  return false;
}

}  // namespace lambshm::test
