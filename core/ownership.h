// Which files in a backing directory are lambshm's: the one rule that
// `lambshm ls`, `rm` and `gc` follow before they look at or remove anything.
//
// The directory.  lambshm marks a directory it creates with a small file,
// kDirMarker (ipc_name.h), holding kDirMarkerText, as CACHEDIR.TAG marks a
// cache: a directory lambshm did not create, even an empty one, is never
// written into.  A marker counts only when it is a regular file with one
// link, owned by the directory's owner or by root: in a shared directory
// such as /tmp, another user cannot plant one.  Well-known directories (/,
// /tmp, /var/tmp, /etc, /usr, /dev, a home directory, ...) are never
// lambshm's, marked or not; /dev/shm, the system's own directory of shm
// objects, needs no marker.  The libraries use any acceptable directory
// (backing_dir.h); only the tools refuse an unmarked one.
//
// Each entry.  In a marked directory an entry is an object when its shape is
// one lambshm makes (see classify_entry) and its owner could have made it
// there: the directory's owner, root, or anyone when the directory is
// writable by others.  Anything else is foreign: listed as "other", never
// removed.
#pragma once

#include <sys/stat.h>

#include "ipc_name.h"

namespace lambshm {

inline constexpr char kDirMarkerText[] = "lambshm backing directory\n";

// Why the directory `dir_fd` (whose fstat is `dir_st`) is not lambshm's,
// or nullptr when it is.
const char* foreign_dir_reason(int dir_fd, const struct stat& dir_st);

// Writes the marker into a directory the libraries just created.  Best
// effort: a directory left unmarked still works, only the tools refuse it.
void mark_dir(int dir_fd, const struct stat& dir_st);

enum class EntryKind {
  kShm,      // a shm object: a plain file, or a memfd's record
  kSem,      // "sem.NAME": a named semaphore (sizeof(sem_t) bytes)
  kTemp,     // ".lambshm-tmp-*": a semaphore being created, or left by a killed creator
  kMarker,   // the directory's marker: never an object, never removed
  kForeign,  // anything else: not lambshm's
};

// The kind of the entry `name` (fstatat without following links gave `st`)
// of a marked directory whose fstat is `dir_st`.
EntryKind classify_entry(const char* name, const struct stat& st, const struct stat& dir_st);

}  // namespace lambshm
