#include "sem_table.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace lambshm {

namespace {

constexpr uint32_t kMinSlots = 16;

uint64_t mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

}  // namespace

uint64_t SemTable::hash_of(Index which, const Entry& e) const {
  if (which == Index::kByKey) return mix(e.dev * 0x9e3779b97f4a7c15ull ^ e.ino);
  return mix(reinterpret_cast<uintptr_t>(e.sem));
}

uint32_t SemTable::find_key(uint64_t dev, uint64_t ino) const {
  uint32_t mask = slots_ - 1;
  uint32_t i = (uint32_t)hash_of(Index::kByKey, Entry{dev, ino, nullptr, 0}) & mask;
  for (; by_key_[i] != 0; i = (i + 1) & mask) {
    const Entry& e = entries_[by_key_[i] - 1];
    if (e.dev == dev && e.ino == ino) break;
  }
  return i;
}

uint32_t SemTable::find_address(const sem_t* sem) const {
  uint32_t mask = slots_ - 1;
  uint32_t i = (uint32_t)hash_of(Index::kByAddress, Entry{0, 0, const_cast<sem_t*>(sem), 0}) & mask;
  for (; by_address_[i] != 0; i = (i + 1) & mask) {
    if (entries_[by_address_[i] - 1].sem == sem) break;
  }
  return i;
}

uint32_t SemTable::find_entry(Index which, uint32_t entry) const {
  const uint32_t* slots = which == Index::kByKey ? by_key_ : by_address_;
  uint32_t mask = slots_ - 1;
  uint32_t i = (uint32_t)hash_of(which, entries_[entry]) & mask;
  while (slots[i] != entry + 1) i = (i + 1) & mask;
  return i;
}

void SemTable::place(Index which, uint32_t entry) {
  uint32_t* slots = index(which);
  uint32_t mask = slots_ - 1;
  uint32_t i = (uint32_t)hash_of(which, entries_[entry]) & mask;
  while (slots[i] != 0) i = (i + 1) & mask;
  slots[i] = entry + 1;
}

// Linear probing without tombstones: after emptying a slot, pull back every
// later entry of the same cluster that would otherwise become unreachable.
void SemTable::erase_slot(Index which, uint32_t hole) {
  uint32_t* slots = index(which);
  uint32_t mask = slots_ - 1;
  slots[hole] = 0;
  for (uint32_t j = (hole + 1) & mask; slots[j] != 0; j = (j + 1) & mask) {
    uint32_t home = (uint32_t)hash_of(which, entries_[slots[j] - 1]) & mask;
    // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
    bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!stays) {
      slots[hole] = slots[j];
      slots[j] = 0;
      hole = j;
    }
  }
}

void SemTable::erase(uint32_t entry) {
  erase_slot(Index::kByKey, find_entry(Index::kByKey, entry));
  erase_slot(Index::kByAddress, find_entry(Index::kByAddress, entry));
  uint32_t last = count_ - 1;
  if (entry != last) {
    // Keep entries dense: move the last one into the gap and repoint its slots.
    uint32_t key_slot = find_entry(Index::kByKey, last);
    uint32_t address_slot = find_entry(Index::kByAddress, last);
    entries_[entry] = entries_[last];
    by_key_[key_slot] = entry + 1;
    by_address_[address_slot] = entry + 1;
  }
  --count_;
}

bool SemTable::grow_to(uint32_t needed) {
  if (needed > entry_capacity_) {
    uint32_t capacity = entry_capacity_ != 0 ? entry_capacity_ : kMinSlots / 2;
    while (capacity < needed) {
      if (capacity > UINT32_MAX / 4) return false;
      capacity *= 2;
    }
    auto* grown = static_cast<Entry*>(realloc(entries_, sizeof(Entry) * capacity));
    if (grown == nullptr) return false;
    entries_ = grown;
    entry_capacity_ = capacity;
  }
  if ((uint64_t)needed * 2 <= slots_) return true;
  uint32_t slots = slots_ != 0 ? slots_ : kMinSlots;
  while ((uint64_t)needed * 2 > slots) slots *= 2;
  auto* key = static_cast<uint32_t*>(calloc(slots, sizeof(uint32_t)));
  auto* address = static_cast<uint32_t*>(calloc(slots, sizeof(uint32_t)));
  if (key == nullptr || address == nullptr) {
    free(key);
    free(address);
    return false;
  }
  free(by_key_);
  free(by_address_);
  by_key_ = key;
  by_address_ = address;
  slots_ = slots;
  for (uint32_t e = 0; e < count_; ++e) {
    place(Index::kByKey, e);
    place(Index::kByAddress, e);
  }
  return true;
}

sem_t* SemTable::acquire(dev_t dev, ino_t ino) {
  MutexLock lock(mutex_);
  if (count_ == 0) return nullptr;
  uint32_t slot = find_key(dev, ino);
  if (by_key_[slot] == 0) return nullptr;
  Entry& e = entries_[by_key_[slot] - 1];
  ++e.refs;
  return e.sem;
}

bool SemTable::reserve() {
  MutexLock lock(mutex_);
  if (!grow_to(count_ + reserved_ + 1)) return false;
  ++reserved_;
  return true;
}

void SemTable::unreserve() {
  MutexLock lock(mutex_);
  --reserved_;
}

sem_t* SemTable::insert(dev_t dev, ino_t ino, sem_t* mapping) {
  MutexLock lock(mutex_);
  --reserved_;
  uint32_t slot = find_key(dev, ino);
  if (by_key_[slot] != 0) {
    Entry& e = entries_[by_key_[slot] - 1];
    ++e.refs;
    return e.sem;
  }
  entries_[count_] = Entry{(uint64_t)dev, (uint64_t)ino, mapping, 1};
  by_key_[slot] = count_ + 1;
  place(Index::kByAddress, count_);
  ++count_;
  return mapping;
}

int SemTable::release(sem_t* sem, bool* unmap) {
  MutexLock lock(mutex_);
  *unmap = false;
  if (count_ == 0 || sem == nullptr) return -EINVAL;
  uint32_t slot = find_address(sem);
  if (by_address_[slot] == 0) return -EINVAL;
  uint32_t entry = by_address_[slot] - 1;
  if (--entries_[entry].refs == 0) {
    erase(entry);
    *unmap = true;
  }
  return 0;
}

size_t SemTable::size() {
  MutexLock lock(mutex_);
  return count_;
}

}  // namespace lambshm
