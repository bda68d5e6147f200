#include "ownership.h"

#include <semaphore.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "ipc_name.h"
#include "linux_syscall.h"

namespace lambshm {

namespace {

constexpr size_t kMarkerLength = sizeof kDirMarkerText - 1;

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Directories that hold other things than lambshm's objects, whatever is in
// them: compared by identity, so another spelling or a link to one is no way in.
const char* well_known(const struct stat& dir_st) {
  static const char* const kSystem[] = {
      "/",        "/tmp",      "/var/tmp",  "/etc",        "/usr",  "/var",   "/dev",
      "/proc",    "/sys",      "/run",      "/boot",       "/opt",  "/home",  "/root",
      "/bin",     "/sbin",     "/lib",      "/lib64",      "/srv",  "/mnt",   "/media",
      "/var/task", "/var/runtime", "/var/lang", "/dev/mqueue", "/run/lock", "/var/lock"};
  struct stat st;
  for (const char* path : kSystem)
    if (sys::fstatat(AT_FDCWD, path, &st, 0) == 0 && same_file(st, dir_st))
      return strcmp(path, "/tmp") == 0    ? "it is /tmp itself, shared by every program"
             : strcmp(path, "/root") == 0 ? "it is a home directory"
                                          : "it is a system directory";
  const char* home = secure_getenv("HOME");
  if (home != nullptr && home[0] == '/' && sys::fstatat(AT_FDCWD, home, &st, 0) == 0 &&
      same_file(st, dir_st))
    return "it is a home directory";
  return nullptr;
}

bool is_dev_shm(const struct stat& dir_st) {
  struct stat st;
  return sys::fstatat(AT_FDCWD, "/dev/shm", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISDIR(st.st_mode) && same_file(st, dir_st);
}

// A marker counts only as lambshm writes it, and only from someone who may
// speak for the directory.
bool marker_valid(int dir_fd, const struct stat& dir_st) {
  int fd = sys::openat(dir_fd, kDirMarker, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  char text[kMarkerLength + 1];
  bool ok = sys::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
            (st.st_uid == dir_st.st_uid || st.st_uid == 0) &&
            st.st_size == (off_t)kMarkerLength &&
            sys::pread(fd, text, sizeof text, 0) == (long)kMarkerLength &&
            memcmp(text, kDirMarkerText, kMarkerLength) == 0;
  sys::close(fd);
  return ok;
}

bool has_prefix(const char* name, const char* prefix, size_t prefix_length) {
  return strncmp(name, prefix, prefix_length) == 0 && name[prefix_length] != '\0';
}

}  // namespace

const char* foreign_dir_reason(int dir_fd, const struct stat& dir_st) {
  if (const char* why = well_known(dir_st)) return why;
  if (is_dev_shm(dir_st) || marker_valid(dir_fd, dir_st)) return nullptr;
  return "lambshm did not make it (it has no valid .lambshm-dir marker)";
}

void mark_dir(int dir_fd, const struct stat& dir_st) {
  if (well_known(dir_st) != nullptr || is_dev_shm(dir_st)) return;
  int fd = sys::openat(dir_fd, kDirMarker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0444);
  if (fd < 0) return;  // another process marked it meanwhile, or it is read-only
  bool written = sys::write(fd, kDirMarkerText, kMarkerLength) == (long)kMarkerLength;
  sys::close(fd);
  if (!written) sys::unlinkat(dir_fd, kDirMarker, 0);  // a full disk: no half marker
}

EntryKind classify_entry(const char* name, const struct stat& st, const struct stat& dir_st) {
  if (strcmp(name, kDirMarker) == 0) return S_ISREG(st.st_mode) ? EntryKind::kMarker
                                                                 : EntryKind::kForeign;
  // shm_open, sem_open and the keeper's records make regular files with one
  // name, never set-uid or set-gid.
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (st.st_mode & (S_ISUID | S_ISGID)) != 0)
    return EntryKind::kForeign;
  bool others_may_write = (dir_st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  if (st.st_uid != dir_st.st_uid && st.st_uid != 0 && !others_may_write)
    return EntryKind::kForeign;
  if (has_prefix(name, kTempSemPrefix, sizeof kTempSemPrefix - 1))
    return st.st_size == 0 || st.st_size == (off_t)sizeof(sem_t) ? EntryKind::kTemp
                                                                  : EntryKind::kForeign;
  if (has_prefix(name, kSemPrefix, sizeof kSemPrefix - 1))
    return st.st_size == (off_t)sizeof(sem_t) ? EntryKind::kSem : EntryKind::kForeign;
  return EntryKind::kShm;
}

}  // namespace lambshm
