// The backing directory: where every shm object and named semaphore lives.
//
// Which directory: $LAMBSHM_DIR (an absolute path) or /tmp/shm, read once per
// process (secure_getenv: a set-uid program ignores it).  It is created on
// first use when missing, last component only, mode 01777 like /dev/shm.  It
// is refused, with EACCES, when it is a symbolic link, not a directory, or
// writable by others without the sticky bit while owned by someone other than
// root or the caller.  Nothing ever falls back to another directory.
//
// How it is used: through one cached descriptor, opened with O_NOFOLLOW and
// validated on the descriptor itself (fstat), so there is no window between
// the check and the use, and every object is opened relative to it (openat),
// so a directory swapped for a symlink later cannot redirect us.  Before each
// use that creates, opens or removes a file, one fstat proves the descriptor
// still names the directory we validated: a program may have closed it and
// reused the number, or the directory may have been deleted or made hostile;
// then it is opened and validated again.  A child after fork() inherits the
// descriptor; exec() closes it (O_CLOEXEC) and the new program resolves again.
#pragma once

#include <sys/stat.h>

#include <climits>
#include <cstddef>

namespace lambshm {

inline constexpr const char kDefaultDir[] = "/tmp/shm";

struct DirConfig {
  char path[PATH_MAX];        // absolute, without a trailing slash (except "/")
  char path_slash[PATH_MAX];  // the same with one trailing slash
  size_t slash_length;        // strlen(path_slash)
  bool debug;                 // LAMBSHM_DEBUG=1: explain refusals on stderr
  int error;                  // non-zero: $LAMBSHM_DIR is unusable; calls fail with it
  bool memfd;                 // shm objects may be memfds (LAMBSHM_MEMFD=0: never)
};

// Builds the configuration from the two environment values (either may be null).
void make_dir_config(const char* env_dir, const char* env_debug, DirConfig* out);

// Why a directory is refused, or nullptr when it is acceptable to a process
// with effective uid `euid`.
const char* dir_policy_violation(const struct stat& st, uid_t euid);
// The same for this process: it asks the kernel for the effective uid only
// when the answer depends on it.
const char* dir_policy_violation(const struct stat& st);

// Opens `path` as the backing directory (creating it when missing, unless
// `create` is false: tools that only look must not create it) and validates
// it; one it creates is marked as lambshm's (ownership.h).  Returns the descriptor (O_CLOEXEC) and fills `st`, or returns -errno; a
// refusal is -EACCES with the reason in `*why`.
int open_backing_dir(const char* path, struct stat* st, const char** why, bool create = true);

// --- The process-wide directory ---------------------------------------------

// The configuration, read from the environment on first use.
const DirConfig& dir_config();

// A borrowed descriptor (never close it) of the validated backing directory,
// or -errno.  Costs one fstat when the cached descriptor is still good.
int backing_dir_fd();

// Whether `fd` (from backing_dir_fd()) is on a file system that keeps files
// in memory (tmpfs, ramfs), where plain object files are as fast as memfds;
// fills the directory's identity.  Answered from the cache for its descriptor.
bool backing_dir_in_memory(int fd, dev_t* dev, ino_t* ino);

// POSIX: the descriptor shm_open returns is the lowest one free, and glibc
// keeps none open between calls, so a descriptor lambshm keeps across calls
// moves out of the numbers a program expects next (backing_dir.cpp says
// where).  Returns its new number (the old one is closed), or `fd` itself.
int move_above_expected_numbers(int fd);

// The cached descriptor without that check, or -1 when none is cached yet.
// Only for lookups whose result is verified independently (by inode).
int backing_dir_fd_unchecked();

// "<dir>/" for glibc's __shm_directory, after making sure the directory exists
// and is acceptable; nullptr and -errno in *err otherwise.
const char* backing_dir_path(size_t* length, int* err);

// Removes the object called `name` (a POSIX IPC name; `prefix` says which
// kind, see ipc_name.h) from the backing directory, as shm_unlink and
// sem_unlink do: 0 or -errno.  An invalid name is -ENOENT (no object can have
// it; POSIX lists no EINVAL for the unlink calls), and the kernel's EPERM for
// another user's file in a sticky directory is -EACCES, as in glibc.
int unlink_object(const char* name, const char* prefix);

// Writes "lambshm: <message>\n" to stderr when LAMBSHM_DEBUG=1.
void debug_log(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace lambshm
