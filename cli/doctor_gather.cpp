// The facts `lambshm doctor` judges and reports (see doctor.h), gathered
// without changing anything: the backing directory is not created, and its
// writability is tested with an anonymous O_TMPFILE that vanishes when closed.
// A program named with --for is inspected by doctor_program.cpp.
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

bool is_shmfs(unsigned long type) { return type == 0x01021994 || type == 0x858458f6; }

int writable(const char* dir) {
  if (access(dir, W_OK | X_OK) == 0) return 0;
  return -errno;
}

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

void gather_dev_shm(DevShm* out) {
  struct stat st;
  struct statfs fs;
  out->stat_result = sys::fstatat(AT_FDCWD, "/dev/shm", &st, 0);
  if (out->stat_result != 0) return;
  out->is_dir = S_ISDIR(st.st_mode);
  out->mode = st.st_mode;
  if (!out->is_dir) return;
  out->have_fs = statfs("/dev/shm", &fs) == 0;
  if (out->have_fs) out->fs_type = (unsigned long)fs.f_type;
  out->writable = writable("/dev/shm");
}

// Where stock glibc's shm_open and sem_open keep objects: 2.34+ uses
// /dev/shm, whatever it is; 2.26-2.33 uses /dev/shm if it is a tmpfs or
// ramfs, else the first tmpfs in the mount table that statfs confirms.
void gather_shm_dir(Facts* out) {
  const DevShm& d = out->dev_shm;
  if (shm_in_libc(out->glibc) || (d.have_fs && is_shmfs(d.fs_type))) {
    out->shm_dir = "/dev/shm";
    out->shm_dir_writable = d.writable;
    return;
  }
  Vec<char*> mounts;
  shm_mounts(&mounts);
  for (char* m : mounts) {
    struct statfs mfs;
    if (statfs(m, &mfs) == 0 && is_shmfs((unsigned long)mfs.f_type)) {
      out->shm_dir = m;
      out->shm_dir_writable = writable(m);
      return;
    }
  }
}

// --- The backing directory ---------------------------------------------------------

void gather_space(int fd, const char* path, Space* out) {
  struct statfs fs;
  out->known = fd >= 0 ? fstatfs(fd, &fs) == 0 : statfs(path, &fs) == 0;
  if (!out->known) return;
  // The fragment size (the block size when the kernel leaves it 0), and
  // f_flags (valid since 2.6.36), as statvfs reads them.
  uint64_t unit = fs.f_frsize != 0 ? (uint64_t)fs.f_frsize : (uint64_t)fs.f_bsize;
  out->fs_type = (unsigned long)fs.f_type;
  out->avail = (uint64_t)fs.f_bavail * unit;
  out->total = (uint64_t)fs.f_blocks * unit;
  out->read_only = (fs.f_flags & ST_RDONLY) != 0;
}

// Missing: it is created on first use, last component only, mode 1777.
void gather_parent(BackingFacts* out) {
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", out->dir.config.path);
  char* slash = strrchr(parent, '/');
  if (slash == parent) slash[1] = '\0';
  else if (slash != nullptr) *slash = '\0';
  out->parent = xstrdup(parent);
  struct stat st;
  out->parent_stat = sys::fstatat(AT_FDCWD, parent, &st, 0);
  if (out->parent_stat != 0) return;
  out->parent_writable = writable(parent);
  gather_space(-1, parent, &out->space);
}

// Opened: can a file be created there?  An anonymous one, gone when closed.
int try_create(int dir_fd, const char* path) {
  int t = sys::openat(dir_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (t >= 0) {
    sys::close(t);
    return 0;
  }
  if (t == -EOPNOTSUPP || t == -EISDIR || t == -EINVAL)
    return writable(path);  // the filesystem has no O_TMPFILE: ask access()
  return t;
}

void gather_backing(BackingFacts* out) {
  const char* path = out->dir.config.path;
  if (out->dir.config.error != 0) return;
  UniqueFd fd(open_backing_dir(path, &out->st, &out->refused, /*create=*/false));
  out->opened = fd.get() < 0 ? fd.get() : 0;
  if (out->opened == -ENOENT) {
    gather_parent(out);
    return;
  }
  if (out->opened < 0) {
    // What it is, as far as lstat can say.
    out->have_stat = sys::fstatat(AT_FDCWD, path, &out->st, AT_SYMLINK_NOFOLLOW) == 0;
    return;
  }
  out->have_stat = true;
  gather_space(fd.get(), path, &out->space);
  out->create = try_create(fd.get(), path);
  out->foreign = foreign_dir_reason(fd.get(), out->st);
  if (out->foreign != nullptr) return;  // its entries are not objects
  Vec<Object> objects;
  out->listed = list_objects(fd.get(), out->st, &objects) == 0;
  for (const Object& o : objects) {
    ++out->count[(int)o.kind];
    out->bytes += (uint64_t)o.st.st_size;
  }
}

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

void gather_libraries(const Install& install, Mechanism mechanism, LibraryFacts* out) {
  out->pieces[0] = {"overlay librt.so.1", install.librt, Mechanism::kOverlay, LibState::kOk};
  out->pieces[1] = {"overlay libpthread.so.0", install.libpthread, Mechanism::kOverlay,
                    LibState::kOk};
  out->pieces[2] = {"preload library", install.preload, Mechanism::kPreload, LibState::kOk};
  for (Library& l : out->pieces) l.state = check_library(l.path);
  // Only where the overlay is used: from glibc 2.34 on, a shim built for
  // another system's libpthread is irrelevant.
  if (mechanism == Mechanism::kOverlay && out->pieces[1].state == LibState::kOk)
    out->shim_missing_dependency = missing_absolute_dependency(install.libpthread);
  out->hook.appendf("%s/sitecustomize.py", install.python_run);
  struct stat st;
  out->hook_present = sys::fstatat(AT_FDCWD, out->hook.c_str(), &st, 0) == 0;
  out->keeper_present = sys::call(SYS_faccessat, AT_FDCWD, install.keeper, X_OK, 0) == 0;
}

// How the libraries store an shm object in the backing directory (core/shm.cpp).
const char* objects_here(const BackingFacts& b, const LibraryFacts& l) {
  if (!b.space.known) return nullptr;
  if (is_shmfs(b.space.fs_type)) return "plain files (the directory is in memory)";
  const char* memfd = getenv("LAMBSHM_MEMFD");
  if (memfd != nullptr && strcmp(memfd, "0") == 0)
    return "plain files (LAMBSHM_MEMFD=0): on this disk their pages are written back";
  if (!l.keeper_present)
    return "plain files, lambshm-keeper missing: on this disk their pages are written back";
  return "memfds held by lambshm-keeper: in memory, never written to this disk";
}

// --- A program ---------------------------------------------------------------------

bool gather_program(Facts* out) {
  ProgramReport& p = out->prog;
  inspect_program(out->program, out->run_ok ? planned_environment(out->plan) : nullptr, &p);
  if (!p.problem.empty()) return false;
  // Where the overlay would not start it, run takes the preload library if
  // that would (plan_run_for): that is the scenario to judge.
  if (p.static_binary || !out->run_ok || out->run_options.force_mechanism ||
      out->plan.mechanism != Mechanism::kOverlay || p.with_run.load_problems.empty())
    return true;
  RunOptions preload_options = out->run_options;
  preload_options.force_mechanism = true;
  preload_options.mechanism = Mechanism::kPreload;
  RunPlan preload;
  Str preload_why;
  if (!plan_run(preload_options, out->install, &preload, &preload_why)) return true;
  inspect_with(p, planned_environment(preload), &p.with_run_preload);
  p.run_preload = p.with_run_preload.load_problems.empty();
  return true;
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

bool gather(const char* program, const char* dir_option, const RunOptions& run_options,
            Facts* out) {
  out->glibc = running_glibc();
  out->mechanism = mechanism_for(out->glibc);
  out->have_uname = uname(&out->uname) == 0;
  gather_dev_shm(&out->dev_shm);
  gather_shm_dir(out);
  choose_dir(dir_option, &out->backing.dir);
  gather_backing(&out->backing);
  find_install(run_options.lib_dir, &out->install);
  gather_libraries(out->install, out->mechanism, &out->libraries);
  out->backing.objects = objects_here(out->backing, out->libraries);
  out->active = active_here(out->mechanism, &out->active_how);
  out->run_options = run_options;
  out->run_ok = plan_run(run_options, out->install, &out->plan, &out->run_problem);
  out->program = program;
  return program == nullptr || gather_program(out);
}

}  // namespace lambshm::cli
