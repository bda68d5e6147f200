// The names of memfd objects, in memory: a table file in the backing
// directory, mapped MAP_SHARED by every process of one user that uses the
// directory, and by its keeper (docs/small-objects.md).
//
// Why a file: a name is then one store in the page cache, with no disk
// metadata operation (a record's O_TMPFILE, linkat and unlink were the cost
// on a busy disk), and the table outlives any process, the keeper's included,
// so that every process, old or new, agrees on one set of names.  Its pages
// are written back in the background, like any shared file mapping.
//
// Trust: the file is the user's own (owner, mode 0644, one link, its size and
// magic are checked when it is opened), so only that user's processes write
// it, as only they could write the record files it replaces.  What a slot
// names is proven before use: a reopened memfd must be the slot's inode.
//
// Layout: a header page, then kBuckets locks (one cache line each), then
// kBuckets * kSlotsPerBucket slots.  A name lives only in its home bucket
// (hash % kBuckets); a name that does not fit (its bucket full, or longer
// than kMaxName) is a record file, as before.  Every change to a bucket is
// made under its lock; a slot's state is written last, so a process that
// dies holding the lock leaves only whole slots behind, and the next locker
// takes the lock over (BucketLock).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace lambshm::name_table {

inline constexpr uint32_t kBuckets = 2048;
inline constexpr uint32_t kSlotsPerBucket = 8;
inline constexpr uint32_t kSlots = kBuckets * kSlotsPerBucket;
inline constexpr size_t kMaxName = 79;  // longer names are record files
inline constexpr char kMagic[8] = {'L', 'S', 'H', 'M', 'T', 'B', '5', '\0'};
// Readable by everyone, so that other users see which names are taken (as a
// listing of /dev/shm shows them); written only by its owner.
inline constexpr mode_t kFileMode = 0644;

enum SlotState : uint32_t { kFree = 0, kLive = 1, kUnlinked = 2 };
enum Kind : uint32_t { kShm = 1, kSem = 2 };

struct Slot {
  std::atomic<uint32_t> state;  // SlotState; written last, under the lock
  uint32_t hash;
  uint32_t kind;
  uint32_t gen;          // bumped whenever the slot is freed
  int32_t keeper_pid;    // the keeper holding the memfd, 0 until it has it
  int32_t keeper_fd;     // ... as this descriptor
  int32_t creator_pid;   // the creator, holding it as creator_fd until it closes it
  int32_t creator_fd;
  uint64_t dev, ino;     // the memfd
  char name[kMaxName + 1];
};
static_assert(sizeof(Slot) == 128);

struct alignas(64) BucketLock {
  std::atomic<uint32_t> owner;  // the pid holding it, 0 when free
  std::atomic<uint32_t> waiters;
};

inline constexpr int kKeepers = 16;

struct Header {
  char magic[8];
  uint32_t buckets, slots_per_bucket, slot_size, reserved;
  uint64_t pid_ns;  // the pid namespace whose pids the table holds
  alignas(64) std::atomic<uint64_t> events_head;  // the next event's sequence number
  // The keepers that may hold this table's memfds (a keeper registers when it
  // maps the table, in a free entry or one of a keeper gone): an opener that
  // finds a memfd nowhere asks each, since after a retirement the slot may
  // not name the keeper that has it yet.
  std::atomic<int32_t> keepers[kKeepers];
};

// What creates and unlinks tell the keepers, with no system call: a ring of
// events each keeper reads at its own pace (keeper.cpp, read_events()).  A
// writer takes a sequence number, writes the entry, then its `seq`; a
// reader trusts an entry whose seq is the one it expects.
enum EventKind : uint32_t { kCreated = 1, kUnlinkedEvent = 2 };
struct Event {
  std::atomic<uint32_t> seq;  // low 32 bits of the sequence number, written last
  uint32_t slot;
  int32_t keeper_pid;  // the keeper holding the memfd, as the slot named it
  int32_t keeper_fd;   // ... as this descriptor, whose number it may have reused since:
  uint64_t ino;        // the memfd's inode says which memfd the event is about
  uint32_t kind;
  uint32_t reserved;
};
static_assert(sizeof(Event) == 32);
inline constexpr uint32_t kEvents = 4096;

inline constexpr size_t kHeaderSize = 4096;
inline constexpr size_t kEventsOffset = kHeaderSize;
inline constexpr size_t kLocksOffset = kEventsOffset + kEvents * sizeof(Event);
inline constexpr size_t kSlotsOffset = kLocksOffset + kBuckets * sizeof(BucketLock);
inline constexpr size_t kTableSize = kSlotsOffset + (size_t)kSlots * sizeof(Slot);

// A mapped table.
struct Table {
  char* base;
  dev_t dev;  // the file's identity: a table deleted and made anew is another
  ino_t ino;
  Header* header() const { return reinterpret_cast<Header*>(base); }
  BucketLock* lock(uint32_t bucket) const {
    return reinterpret_cast<BucketLock*>(base + kLocksOffset) + bucket;
  }
  Slot* slot(uint32_t index) const { return reinterpret_cast<Slot*>(base + kSlotsOffset) + index; }
  Event* event(uint64_t seq) const {
    return reinterpret_cast<Event*>(base + kEventsOffset) + (seq % kEvents);
  }
};

// Tells the keepers that slot `s` (index `index`) was just made live or
// unlinked (the caller holds its bucket's lock).
void post_event(const Table* t, uint32_t index, const Slot* s, EventKind kind);

// The file's name in the backing directory, for user `euid`.
void file_name(uid_t euid, char* out, size_t size);
// Whether `name` (a file in the backing directory) is some user's table.
bool is_table_file(const char* name);

uint32_t hash(const char* name);

// This process's table for the directory `dir` (identity dev/ino) and user
// `euid` (the caller's effective uid), opened
// (created when missing and `create`) and mapped once: nullptr when there is
// none to be had (no O_TMPFILE, another user's file in the way, another pid
// namespace's table); then names are record files.
const Table* table_for(int dir, dev_t dev, ino_t ino, uid_t euid, bool create);

// Opens and maps the table file of `euid` in `dir` without caching it (the
// keeper, and tools): the mapping, or nullptr.
const Table* map_table(int dir, uid_t euid, bool create);
// Whether `t` is still the table file of `euid` linked in `dir` (someone may
// have deleted the file, or the directory).
bool still_linked(const Table* t, int dir, uid_t euid);
// Unmaps a table from map_table.
void unmap_table(const Table* t);

// The lock of one bucket.  A holder that died is detected by the waiters
// (its pid is gone, or a zombie) and the lock taken over: whatever it was
// doing left whole slots only.  try_for_ms < 0 waits as long as the holder lives.
class Locked {
 public:
  // `self`: the caller's pid, which the lock records as its holder.
  Locked(const Table* t, uint32_t bucket, pid_t self, int try_for_ms = -1);
  ~Locked();
  Locked(const Locked&) = delete;
  Locked& operator=(const Locked&) = delete;
  bool held() const { return held_; }

 private:
  BucketLock* lock_;
  bool held_;
};

// The live slot named `name` in its bucket (the caller holds its lock), or nullptr.
Slot* find_live(const Table* t, const char* name, uint32_t hash);
// A slot of the bucket of `hash` that is not live (free, or unlinked), for a
// new name (the caller holds its lock), or nullptr.
Slot* find_free(const Table* t, uint32_t hash);
inline uint32_t bucket_of(uint32_t hash) { return hash % kBuckets; }
inline uint32_t index_of(const Table* t, const Slot* s) {
  return (uint32_t)(s - t->slot(0));
}
// Frees slot `s` (the caller holds its bucket's lock).
void free_slot(Slot* s);

// Whether process `pid` is alive (not gone and not a zombie).
bool process_alive(pid_t pid);

}  // namespace lambshm::name_table
