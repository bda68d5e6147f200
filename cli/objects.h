// The backing directory as ls, rm and gc see it: which directory, opened
// without creating it and refused exactly as the libraries refuse it
// (core/backing_dir.h), and what is in it.
//
// Which entries are objects is core/ownership.h's rule, the one the
// libraries' marker follows: in a directory that is not lambshm's, the tools
// look at nothing and remove nothing.  Kinds:
//   sem    "sem.NAME", 32 bytes: the named semaphore NAME
//   tmp    ".lambshm-tmp-*": a semaphore being created; one that stays is
//          the leftover of a creator killed half-way (orphaned)
//   shm    any other regular file of ours: the shm object of that name (a
//          plain file, or the record of a memfd object)
//   other  anything else (directories, links, files of other shapes or
//          owners): listed, never removed
// The marker itself is not listed.
#pragma once

#include <sys/stat.h>

#include "backing_dir.h"
#include "ownership.h"
#include "support.h"

namespace lambshm::cli {

struct DirChoice {
  DirConfig config;
  const char* source;  // "--dir", "LAMBSHM_DIR" or "default"
};

// The directory named by --dir (may be null), else $LAMBSHM_DIR, else /tmp/shm.
void choose_dir(const char* option, DirChoice* out);

// Opens the backing directory for reading and removing, never creating it,
// and only if it is lambshm's (core/ownership.h).  Returns the descriptor,
// or -1 after printing why; *missing tells a directory that does not exist
// (nothing to do) from a refused one.
int open_dir_for_tools(const DirChoice& dir, struct stat* st, bool* missing);

enum class Kind { kShm, kSem, kTemp, kOther };
const char* kind_name(Kind kind);
// The tools' kind for the core's (the marker is not an object: kOther).
Kind kind_of(EntryKind kind);

struct Object {
  const char* file;  // the entry's name in the directory
  const char* name;  // the object's name: the file name without "sem."
  Kind kind;
  struct stat st;
  double age;        // seconds since the last change (mtime or ctime, the later)
  bool sem_ok;       // kSem: the file holds a semaphore (32 bytes) we could read
  uint32_t sem_value;
  uint32_t sem_waiters;
  pid_t* pids;       // processes that have it open or mapped
  size_t pid_count;
  // kShm whose file is a memfd record (docs/design.md): `st` is the record's
  // with the memfd's size and times; users are matched by the memfd's inode
  // (a keeper is not a user).  A stale record (nobody holds its memfd) has no
  // users and size 0.
  bool memfd;
  bool stale;
  dev_t use_dev;  // the inode processes have open: the file's, or the memfd's
  ino_t use_ino;
  // A name of the caller's name table (core/name_table.h), not a file: `st`
  // is the memfd's (a stale one: nobody holds it, size 0, no age), `file`
  // the slot's name ("sem.NAME" for a semaphore).
  bool in_table;
};

// Every entry of the directory (`dir_st`: its fstat) but its marker and the
// name tables, then every live name of the caller's table, sorted by name
// then kind; 0 or -errno.
int list_objects(int dir_fd, const struct stat& dir_st, Vec<Object>* out);

// A process whose descriptors and mappings could not be read: another
// user's, or (even for root) one the kernel denies, such as a container's
// PID 1 from another user namespace.  pid 0: /proc itself is unreadable.
struct Uninspected {
  pid_t pid;
  uid_t uid;
};

// Fills each object's pids from /proc (open descriptors and mappings), and
// `uninspected` with the processes that could not be inspected, so callers
// can say, when it matters, that the answer may be incomplete.
void find_users(const struct stat& dir_st, Vec<Object>* objects, Vec<Uninspected>* uninspected);

// "PID 1 (root)", "3 processes (PIDs 1 (root), 40 (993), ...)": true words
// for a message, whoever runs it.
void describe_uninspected(const Vec<Uninspected>& processes, Str* out);

}  // namespace lambshm::cli

namespace lambshm::cli {

// Removes the entry `file` (one path component) of the directory, only if it
// is still the file `expected` describes; 0, -ESTALE if it was replaced
// meanwhile, or -errno.  unlinkat on the directory's descriptor with a single
// component: never anything outside the directory, never through a symlink.
int remove_entry(int dir_fd, const char* file, const struct stat& expected);

// The kind of `file` when it is a live name of the caller's table (shm or sem).
bool live_in_table(int dir_fd, const struct stat& dir_st, const char* file, Kind* kind);

// Removes `file` from the caller's table, as shm_unlink does (the core's
// memfd_store::unlink_in_table), only if it still names the memfd `o` shows;
// a stale one (nobody holds it) is freed through the core's open, which asks
// the keeper first.  0, -ESTALE if it names something else now, -ENOENT.
int remove_table_object(int dir_fd, const struct stat& dir_st, const Object& o);

}  // namespace lambshm::cli
