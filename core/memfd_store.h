// Shared memory objects whose pages are memfds, named by record files in the
// backing directory and kept alive by a keeper process (docs/design.md).
// Used by shm.cpp when the backing directory is not in memory (a disk /tmp).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "ipc_name.h"

namespace lambshm::memfd_store {

// Result of open() when this store cannot serve the call and the caller
// should use a plain file instead (memfd_create missing, no keeper, no
// descriptors to spare).  Never a real -errno.
inline constexpr int kUsePlainFile = -100000;

// What open_in_table() creates: its kind (name_table::Kind) and first bytes.
struct Contents {
  uint32_t kind;
  const void* bytes;
  size_t size;
};

// open_in_table()'s answer when the name is not the table's: a file is at
// the name, the name does not fit, no table, or (no O_CREAT) not in it.
inline constexpr int kNotInTable = -100001;

// An object named in the name table only (name_table.h): a descriptor
// (O_RDWR), -errno, kUsePlainFile or kNotInTable.  For named semaphores.
int open_in_table(int dir, dev_t dev, ino_t ino, const IpcName& file, int oflag, mode_t mode,
                  const Contents& contents);
// The memfd (dev, ino) a live name of the table names, with no descriptor:
// true when there is one.  For a sem_open of a semaphore the process has
// open already, which needs none.
bool identity_in_table(int dir, dev_t dev, ino_t ino, const IpcName& file, dev_t* object_dev,
                       ino_t* object_ino);
// Unlinks a name in the table: 0, or kNotInTable.
int unlink_in_table(int dir, dev_t dev, ino_t ino, const IpcName& file);

// shm_open in directory `dir` (identity dev/ino): a descriptor, -errno or
// kUsePlainFile.  Existing plain object files are opened as such.
int open(int dir, dev_t dev, ino_t ino, const IpcName& file, int oflag, mode_t mode);

// shm_unlink: 0 or -errno, as unlinkat; tells the keeper to let go.
int unlink(int dir, dev_t dev, ino_t ino, const IpcName& file);

// Opens the memfd a record names: a descriptor with `flags` (an access mode,
// O_TRUNC, O_CLOEXEC), -ENOENT when the record is stale (nobody holds it), or
// -errno.  `record` is an open record file (not closed here); the keeper of
// directory `dir` (identity `dirst`) is asked when the record's holder no
// longer has it, unless `dirst` is null.
int open_record(int record, int flags, int dir, const struct stat* dirst);

}  // namespace lambshm::memfd_store
