// The per-process table of open named semaphores.
//
// sem_open of a name that is already open in this process returns the same
// address, and sem_close unmaps only when the last reference goes; the table
// maps each semaphore file (device, inode) to its one mapping and a reference
// count, and each mapping address back to its entry.  Both lookups are O(1)
// (open addressing, linear probing, backward-shift deletion): no fixed limit,
// and no slowdown as the number of open semaphores grows.  Memory is about 48
// bytes per open semaphore here, plus the kernel's mapping.
//
// Thread safety: every method takes the table's own lock.  fork() from a
// multithreaded parent is made safe by the owner (see named_sem.cpp), which
// holds the lock across fork with pthread_atfork.
#pragma once

#include <semaphore.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "mutex.h"

namespace lambshm {

class SemTable {
 public:
  constexpr SemTable() = default;
  ~SemTable() = default;  // process lifetime: mappings outlive any destructor
  SemTable(const SemTable&) = delete;
  SemTable& operator=(const SemTable&) = delete;

  // The mapping of (dev, ino) with one more reference, or nullptr.
  sem_t* acquire(dev_t dev, ino_t ino);

  // Guarantees that one later insert() needs no memory: false on ENOMEM.
  // Every successful reserve() is followed by exactly one insert() or unreserve().
  bool reserve();
  void unreserve();

  // Adds `mapping` for (dev, ino) with one reference, consuming a reservation.
  // If another thread added (dev, ino) meanwhile, takes a reference to that
  // one instead and returns it: the caller must then unmap its own.
  sem_t* insert(dev_t dev, ino_t ino, sem_t* mapping);

  // Drops one reference to `sem`: 0 (with *unmap set when it was the last, the
  // caller then unmaps), or -EINVAL when `sem` is not in the table.
  int release(sem_t* sem, bool* unmap);

  size_t size();

  Mutex& mutex() { return mutex_; }

 private:
  struct Entry {
    uint64_t dev;
    uint64_t ino;
    sem_t* sem;
    uint64_t refs;
  };
  enum class Index { kByKey, kByAddress };

  uint32_t* index(Index which) { return which == Index::kByKey ? by_key_ : by_address_; }
  uint64_t hash_of(Index which, const Entry& e) const;
  uint32_t find_key(uint64_t dev, uint64_t ino) const;  // slot; empty slot if absent
  uint32_t find_address(const sem_t* sem) const;        // slot; empty slot if absent
  uint32_t find_entry(Index which, uint32_t entry) const;
  void place(Index which, uint32_t entry);
  void erase_slot(Index which, uint32_t slot);
  void erase(uint32_t entry);
  bool grow_to(uint32_t needed);

  Mutex mutex_;
  Entry* entries_ = nullptr;      // dense: entries_[0, count_)
  uint32_t entry_capacity_ = 0;
  uint32_t* by_key_ = nullptr;    // slots hold entry index + 1; 0 is empty
  uint32_t* by_address_ = nullptr;
  uint32_t slots_ = 0;            // power of two, at least twice the entries in use or reserved
  uint32_t count_ = 0;
  uint32_t reserved_ = 0;
};

}  // namespace lambshm
