// The system half of `lambshm doctor` (see doctor.cpp): /dev/shm and what
// stock glibc does with it, the backing directory, lambshm's libraries.
#include <sys/statfs.h>
#include <sys/statvfs.h>  // ST_RDONLY
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>

#include "doctor.h"
#include "linux_syscall.h"
#include "unique_fd.h"

namespace lambshm::cli {

namespace {

const char* fs_name(unsigned long type) {
  switch (type) {
    case 0x01021994: return "tmpfs";
    case 0x858458f6: return "ramfs";
    case 0xef53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683e: return "btrfs";
    case 0x794c7630: return "overlayfs";
    case 0x6969: return "nfs";
    case 0x73717368: return "squashfs";
    case 0xe0f5e1e2: return "erofs";
    case 0x2fc12fc1: return "zfs";
    case 0x65735546: return "fuse";
    case 0x01021997: return "9p";
    case 0xff534d42: return "cifs";
    case 0x4d44: return "vfat";
    default: return nullptr;
  }
}

void fs_text(unsigned long type, Str* out) {
  const char* name = fs_name(type);
  if (name != nullptr) {
    out->append(name);
  } else {
    out->appendf("filesystem 0x%lx", type);
  }
}

bool is_shmfs(unsigned long type) { return type == 0x01021994 || type == 0x858458f6; }

const char* errno_name(int e) {
  switch (e) {
    case ENOSYS: return "ENOSYS";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EROFS: return "EROFS";
    case ENOTDIR: return "ENOTDIR";
    case ENOSPC: return "ENOSPC";
    case EINVAL: return "EINVAL";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "error";
  }
}

}  // namespace

// "ENOSYS (Python: OSError: [Errno 38] Function not implemented)"
void errno_text(int e, Str* out) {
  const char* py = e == ENOENT ? "FileNotFoundError" : e == EACCES ? "PermissionError" : "OSError";
  out->appendf("%s (Python: %s: [Errno %d] %s)", errno_name(e), py, e, strerror(e));
}

namespace {

// --- /dev/shm and stock glibc ------------------------------------------------------

// Mount points of tmpfs ("shm" before Linux 2.4) filesystems, in /proc/mounts
// order, as glibc 2.26-2.33 reads them (/etc/fstab when /proc is missing).
void shm_mounts(Vec<char*>* out) {
  FILE* f = fopen("/proc/mounts", "re");
  if (f == nullptr) f = fopen("/etc/fstab", "re");
  if (f == nullptr) return;
  char* line = nullptr;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    char dir[4096], type[64];
    if (sscanf(line, "%*s %4095s %63s", dir, type) != 2) continue;
    if (strcmp(type, "tmpfs") != 0 && strcmp(type, "shm") != 0) continue;
    // Octal escapes (\040 for a space) as in getmntent.
    Str unescaped;
    for (const char* p = dir; *p != '\0'; ++p) {
      if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
          p[3] >= '0' && p[3] <= '7') {
        unescaped.append((char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0')));
        p += 3;
      } else {
        unescaped.append(*p);
      }
    }
    out->push(unescaped.release());
  }
  free(line);
  fclose(f);
}

int writable(const char* dir) {
  if (access(dir, W_OK | X_OK) == 0) return 0;
  return -errno;
}

}  // namespace

void check_dev_shm(const GlibcVersion& glibc, Str* report, Stock* stock) {
  struct stat st;
  struct statfs fs;
  int r = sys::fstatat(AT_FDCWD, "/dev/shm", &st, 0);
  bool present = r == 0 && S_ISDIR(st.st_mode);
  bool fs_ok = present && statfs("/dev/shm", &fs) == 0;
  int w = present ? writable("/dev/shm") : -ENOENT;
  report->append("  /dev/shm: ");
  if (r != 0) {
    report->append("missing\n");
  } else if (!S_ISDIR(st.st_mode)) {
    report->append("exists but is not a directory\n");
  } else {
    if (fs_ok) fs_text((unsigned long)fs.f_type, report);
    report->appendf(", mode %04o, %s\n", (unsigned)(st.st_mode & 07777),
                    w == 0 ? "writable" : w == -EROFS ? "read-only" : "not writable by this user");
  }

  if (shm_in_libc(glibc)) {
    // glibc 2.34+: /dev/shm, whatever it is.
    stock->dir = "/dev/shm";
    if (r != 0) {
      stock->error = ENOENT;
      stock->why.append("/dev/shm is missing");
    } else if (!S_ISDIR(st.st_mode)) {
      stock->error = ENOTDIR;
      stock->why.append("/dev/shm is not a directory");
    } else if (w != 0) {
      stock->error = -w;
      stock->why.appendf("/dev/shm is %s", w == -EROFS ? "read-only" : "not writable");
    } else {
      stock->works = true;
    }
    return;
  }
  // glibc 2.26-2.33: /dev/shm if it is a tmpfs or ramfs, else the first
  // tmpfs in the mount table that statfs confirms, else ENOSYS.
  if (fs_ok && is_shmfs((unsigned long)fs.f_type)) {
    stock->dir = "/dev/shm";
  } else {
    Vec<char*> mounts;
    shm_mounts(&mounts);
    for (char* m : mounts) {
      struct statfs mfs;
      if (statfs(m, &mfs) == 0 && is_shmfs((unsigned long)mfs.f_type)) {
        stock->dir = m;
        break;
      }
    }
  }
  if (stock->dir == nullptr) {
    stock->error = ENOSYS;
    stock->why.appendf("%s and no tmpfs is mounted anywhere",
                       r != 0 ? "/dev/shm is missing" : "/dev/shm is not a tmpfs");
    return;
  }
  int sw = writable(stock->dir);
  if (sw != 0) {
    stock->error = -sw;
    stock->why.appendf("its shm directory %s is %s", stock->dir,
                       sw == -EROFS ? "read-only" : "not writable");
    return;
  }
  stock->works = true;
}

namespace {

// --- The backing directory ---------------------------------------------------------

void space_text(int fd, const char* path, Str* report, bool* full) {
  // statfs alone, read as glibc's statvfs reads it: the fragment size (the
  // block size when the kernel leaves it 0) and f_flags (valid since 2.6.36).
  struct statfs fs;
  bool have_fs = fd >= 0 ? fstatfs(fd, &fs) == 0 : statfs(path, &fs) == 0;
  report->append("  filesystem: ");
  if (!have_fs) {
    report->append("unknown\n");
    return;
  }
  fs_text((unsigned long)fs.f_type, report);
  uint64_t unit = fs.f_frsize != 0 ? (uint64_t)fs.f_frsize : (uint64_t)fs.f_bsize;
  uint64_t avail = (uint64_t)fs.f_bavail * unit;
  uint64_t total = (uint64_t)fs.f_blocks * unit;
  report->append(", ");
  format_bytes(avail, report);
  report->append(" free of ");
  format_bytes(total, report);
  if (fs.f_flags & ST_RDONLY) report->append(", mounted read-only");
  *full = avail == 0;
  if (avail > 0 && avail < (1u << 20)) report->append(" (nearly full)");
  report->append('\n');
}

}  // namespace

void check_backing(const DirChoice& dir, Str* report, Backing* out) {
  const DirConfig& c = dir.config;
  report->appendf("Backing directory %s (%s)\n", c.path,
                  strcmp(dir.source, "default") == 0 ? "the default; LAMBSHM_DIR is unset"
                                                     : dir.source);
  if (c.error != 0) {
    out->why.appendf("the backing directory '%s' is unusable: %s", c.path,
                     c.error == EINVAL ? "LAMBSHM_DIR must be an absolute path"
                                       : strerror(c.error));
    report->appendf("  %s\n", out->why.c_str());
    return;
  }
  struct stat st;
  const char* why = nullptr;
  UniqueFd fd(open_backing_dir(c.path, &st, &why, /*create=*/false));
  bool full = false;
  if (fd.get() == -ENOENT) {
    // Created on first use, last component only, mode 1777.
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", c.path);
    char* slash = strrchr(parent, '/');
    if (slash == parent) slash[1] = '\0';
    else if (slash != nullptr) *slash = '\0';
    struct stat pst;
    int pr = sys::fstatat(AT_FDCWD, parent, &pst, 0);
    int pw = pr == 0 ? writable(parent) : pr;
    if (pr != 0) {
      out->why.appendf("%s does not exist, and neither does its parent %s", c.path, parent);
    } else if (pw != 0) {
      out->why.appendf("%s does not exist and cannot be created: %s is %s", c.path, parent,
                       pw == -EROFS ? "read-only" : "not writable by this user");
    } else {
      out->works = true;
    }
    report->appendf("  does not exist yet: %s\n",
                    out->works ? "it will be created, mode 1777, on first use" : out->why.c_str());
    if (pr == 0) space_text(-1, parent, report, &full);
    if (full) {
      out->works = false;
      out->why.appendf("%s has no free space", parent);
    }
    return;
  }
  if (fd.get() < 0) {
    out->why.appendf("the backing directory %s is refused: %s", c.path,
                     why != nullptr ? why : strerror(-fd.get()));
    report->appendf("  refused: %s\n", why != nullptr ? why : strerror(-fd.get()));
    // Say what it is, as far as lstat can.
    if (sys::fstatat(AT_FDCWD, c.path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      const char* owner = user_name(st.st_uid);
      report->appendf("  owner %s%s%u%s, mode %04o\n", owner ? owner : "", owner ? " (uid " : "uid ",
                      (unsigned)st.st_uid, owner ? ")" : "", (unsigned)(st.st_mode & 07777));
    }
    return;
  }
  const char* owner = user_name(st.st_uid);
  bool sticky = (st.st_mode & S_ISVTX) != 0;
  bool shared = (st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
  report->appendf("  owner %s%s%u%s, mode %04o%s\n", owner ? owner : "", owner ? " (uid " : "uid ",
                  (unsigned)st.st_uid, owner ? ")" : "", (unsigned)(st.st_mode & 07777),
                  sticky ? " (sticky: users cannot remove each other's objects)"
                  : shared ? "" : " (only its owner can create objects)");
  space_text(fd.get(), c.path, report, &full);
  // Can we create a file there?  An anonymous one, gone when closed.
  int t = sys::openat(fd.get(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (t >= 0) {
    sys::close(t);
  } else if (t == -EOPNOTSUPP || t == -EISDIR || t == -EINVAL) {
    t = writable(c.path);  // the filesystem has no O_TMPFILE: ask access()
  }
  if (t < 0 || full) {
    int e = full ? ENOSPC : -t;
    out->why.appendf("objects cannot be created in %s: %s", c.path,
                     e == EROFS ? "read-only filesystem" : e == ENOSPC ? "no space left"
                     : e == EACCES ? "no write permission for this user" : strerror(e));
    report->appendf("  %s\n", out->why.c_str());
    return;
  }
  report->append("  writable by this user\n");
  out->works = true;

  Vec<Object> objects;
  if (list_objects(fd.get(), &objects) == 0) {
    size_t count[4] = {};
    uint64_t bytes = 0;
    for (const Object& o : objects) {
      ++count[(int)o.kind];
      bytes += (uint64_t)o.st.st_size;
    }
    report->appendf("  holds %zu shm object%s, %zu semaphore%s", count[0],
                    count[0] == 1 ? "" : "s", count[1], count[1] == 1 ? "" : "s");
    if (count[2] != 0) report->appendf(", %zu temporar%s", count[2], count[2] == 1 ? "y" : "ies");
    if (count[3] != 0) report->appendf(", %zu other entr%s", count[3], count[3] == 1 ? "y" : "ies");
    report->append(" (");
    format_bytes(bytes, report);
    report->append("; `lambshm ls` lists them)\n");
  }
}

namespace {

// --- lambshm's libraries -----------------------------------------------------------

// The first LD_LIBRARY_PATH directory holding `name`, or null.
char* search_ld_library_path(const char* name) {
  const char* list = getenv("LD_LIBRARY_PATH");
  for (const char* p = list; p != nullptr && *p != '\0';) {
    size_t length = strcspn(p, ":;");
    Str candidate;
    candidate.append(length == 0 ? "." : p, length == 0 ? 1 : length);
    candidate.appendf("/%s", name);
    struct stat st;
    if (sys::fstatat(AT_FDCWD, candidate.c_str(), &st, 0) == 0) return candidate.release();
    p += length;
    if (*p != '\0') ++p;
  }
  return nullptr;
}

}  // namespace

// Whether this environment activates lambshm for ordinary programs, and how.
bool active_here(Mechanism m, Str* how) {
  if (m == Mechanism::kOverlay) {
    char* pthread = search_ld_library_path("libpthread.so.0");
    if (pthread != nullptr && is_lambshm_file(pthread)) {
      how->appendf("LD_LIBRARY_PATH finds lambshm's %s first", pthread);
      return true;
    }
    return false;
  }
  const char* list = getenv("LD_PRELOAD");
  for (const char* p = list; p != nullptr && *p != '\0';) {
    size_t length = strcspn(p, ": \t");
    if (length > 0) {
      char* entry = xstrndup(p, length);
      char* path = strchr(entry, '/') != nullptr ? entry : search_ld_library_path(entry);
      if (path != nullptr && is_lambshm_file(path)) {
        how->appendf("LD_PRELOAD has lambshm's %s", path);
        return true;
      }
    }
    p += length;
    if (*p != '\0') ++p;
  }
  return false;
}

void check_libraries(const Install& install, Mechanism m, Str* report) {
  report->appendf("lambshm libraries (%s layout)\n", install.layout);
  struct Piece {
    const char* what;
    const char* path;
    Mechanism mechanism;
  } pieces[] = {{"overlay librt.so.1", install.librt, Mechanism::kOverlay},
                {"overlay libpthread.so.0", install.libpthread, Mechanism::kOverlay},
                {"preload library", install.preload, Mechanism::kPreload}};
  LibState states[sizeof pieces / sizeof pieces[0]];
  for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; ++i) {
    const Piece& p = pieces[i];
    states[i] = check_library(p.path);
    report->appendf("  %s%s: %s %s\n", p.what, p.mechanism == m ? " (needed here)" : "", p.path,
                    lib_state_text(states[i]));
  }
  if (states[1] == LibState::kOk) {  // pieces[1] is install.libpthread
    if (const char* missing = missing_absolute_dependency(install.libpthread))
      report->appendf("  the libpthread.so.0 shim loads the stock library from %s, which is "
                      "missing here\n",
                      missing);
  }
  Str hook;
  hook.appendf("%s/sitecustomize.py", install.python_run);
  struct stat st;
  report->appendf("  Python multiprocessing hook: %s %s\n", hook.c_str(),
                  sys::fstatat(AT_FDCWD, hook.c_str(), &st, 0) == 0 ? "present" : "missing");
}

}  // namespace lambshm::cli
