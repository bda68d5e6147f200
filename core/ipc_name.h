// POSIX IPC names (shm_open, sem_open) to file names in the backing directory.
//
// One rule for every caller, as musl has it: leading slashes are stripped; the
// rest must be non-empty, contain no '/', and not be "." or ".." (EINVAL); the
// file name, prefix included, must fit in NAME_MAX bytes (ENAMETOOLONG).  One
// shm name is reserved: the directory's marker (EINVAL).
// glibc 2.26 differs in two places, deliberately not copied: it accepts "."
// and ".." (shm_open("..") opens the directory above /dev/shm) and rejects
// names of 254 and 255 bytes with EINVAL.
#pragma once

#include <climits>
#include <cstddef>

namespace lambshm {

struct IpcName {
  char file[NAME_MAX + 1];  // NUL-terminated file name, relative to the backing directory
};

// Prefixes of the files behind each kind of object (glibc's naming).
inline constexpr const char kShmPrefix[] = "";
inline constexpr const char kSemPrefix[] = "sem.";
// The temporary file a sem_open creator writes before linking it into place,
// when O_TMPFILE is not available.
inline constexpr const char kTempSemPrefix[] = ".lambshm-tmp-";
// The file that marks a backing directory as lambshm's (ownership.h): a
// reserved name, never an object's (EINVAL).
inline constexpr const char kDirMarker[] = ".lambshm-dir";
// The start of a name table's file name (name_table.h): ".lambshm-names.5.<uid>".
inline constexpr const char kTablePrefix[] = ".lambshm-names.5.";

// Fills `out` and returns 0, or returns -EINVAL / -ENAMETOOLONG.  A null
// `name` is -EINVAL (glibc would crash).
int make_ipc_name(const char* name, const char* prefix, IpcName* out);

}  // namespace lambshm
