// lambshm doctor: will POSIX shared memory work here, and if not, why and
// what to do.  It looks, and never changes anything: the backing directory is
// not created, and its writability is tested with an anonymous O_TMPFILE that
// vanishes when closed.
//
// It checks, in order: the glibc (which decides where shm_open/sem_open live
// and so how lambshm must be activated); /dev/shm and what stock glibc will
// do with it (glibc 2.26-2.33 looks for a tmpfs in the mount table and fails
// with ENOSYS when there is none; 2.34+ uses /dev/shm blindly, ENOENT when it
// is missing); the backing directory (the libraries' own rules, from
// core/backing_dir.h); lambshm's libraries and whether this environment
// already activates them; and with --for, a program (doctor_program.cpp).
//
// The exit status answers one question: will shared memory work as things
// stand (0) or not (1)?  `lambshm run lambshm doctor` answers it for run.
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "doctor.h"
#include "linux_syscall.h"
#include "objects.h"
#include "unique_fd.h"

namespace lambshm::cli {

namespace {

constexpr char kHelp[] =
    "Usage: lambshm doctor [--for PROGRAM] [--dir DIR] [--lib-dir DIR]\n"
    "Check whether POSIX shared memory (shm_open, sem_open, Python's\n"
    "multiprocessing) will work here, say in plain words what fails and what to\n"
    "do: /dev/shm and what stock glibc does with it, the glibc version, the\n"
    "backing directory (owner, mode, sticky bit, filesystem, free space), and\n"
    "whether lambshm's libraries are there and active.  Changes nothing.\n"
    "\n"
    "  --for PROGRAM  also work out where PROGRAM's shm_open/sem_open calls go, as\n"
    "                 things stand and under `lambshm run` (for a Python\n"
    "                 interpreter, its multiprocessing modules too)\n"
    "  --dir DIR      the backing directory (default: $LAMBSHM_DIR, else /tmp/shm)\n"
    "  --lib-dir DIR  lambshm's libraries are in DIR, not next to this program\n"
    "  -h, --help     show this help\n"
    "\n"
    "Exit status: 0 shared memory will work as things stand, 1 it will not,\n"
    "2 usage error or PROGRAM could not be found.\n"
    "(`lambshm run lambshm doctor` checks the environment `run` gives.)\n";

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

// "ENOSYS (Python: OSError: [Errno 38] Function not implemented)"
void errno_text(int e, Str* out) {
  const char* py = e == ENOENT ? "FileNotFoundError" : e == EACCES ? "PermissionError" : "OSError";
  out->appendf("%s (Python: %s: [Errno %d] %s)", errno_name(e), py, e, strerror(e));
}

// --- /dev/shm and stock glibc ------------------------------------------------------

struct Stock {
  bool works = false;
  int error = 0;
  const char* dir = nullptr;
  Str why;
};

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

// --- The backing directory ---------------------------------------------------------

struct Backing {
  bool works = false;
  Str why;
};

void space_text(int fd, const char* path, Str* report, bool* full) {
  struct statfs fs;
  struct statvfs vfs;
  bool have_fs = fd >= 0 ? fstatfs(fd, &fs) == 0 : statfs(path, &fs) == 0;
  bool have_vfs = fd >= 0 ? fstatvfs(fd, &vfs) == 0 : statvfs(path, &vfs) == 0;
  report->append("  filesystem: ");
  if (have_fs) {
    fs_text((unsigned long)fs.f_type, report);
  } else {
    report->append("unknown");
  }
  if (have_vfs) {
    uint64_t avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    uint64_t total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    report->append(", ");
    format_bytes(avail, report);
    report->append(" free of ");
    format_bytes(total, report);
    if (vfs.f_flag & ST_RDONLY) report->append(", mounted read-only");
    *full = avail == 0;
    if (avail > 0 && avail < (1u << 20)) report->append(" (nearly full)");
  }
  report->append('\n');
}

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
  for (const Piece& p : pieces) {
    LibState s = check_library(p.path);
    report->appendf("  %s%s: %s %s\n", p.what, p.mechanism == m ? " (needed here)" : "", p.path,
                    lib_state_text(s));
  }
  if (check_library(install.libpthread) == LibState::kOk) {
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

// --- The program -------------------------------------------------------------------

struct Judgement {
  bool works = true;
  bool uses = false;  // calls any named-object function
  Str why;
};

void judge(const ProgramReport& p, const Scenario& s, const Stock& stock, const Backing& backing,
           bool dev_shm_usable, Judgement* out) {
  for (const Binding& b : s.bindings) {
    out->uses = true;
    bool ok = b.provider == nullptr ? false : b.lambshm ? backing.works : stock.works;
    if (ok || !out->works) continue;
    out->works = false;
    if (b.provider == nullptr) {
      out->why.appendf("%s (in %s) is defined by nothing it loads", b.symbol, b.user);
    } else if (b.lambshm) {
      out->why.appendf("%s goes to lambshm, but %s", b.symbol, backing.why.c_str());
    } else {
      out->why.appendf("%s (in %s) goes to stock glibc (%s), which fails with ", b.symbol, b.user,
                       b.provider);
      errno_text(stock.error, &out->why);
      out->why.appendf(": %s", stock.why.c_str());
    }
  }
  if (out->works && p.python && !dev_shm_usable && s.python_hook == 0) {
    out->works = false;
    out->why.append("Python's multiprocessing.Value and Array call os.statvfs(\"/dev/shm\") "
                    "themselves and will fail; lambshm's multiprocessing hook is not loaded");
  }
}

void print_scenario(const char* title, const ProgramReport& p, const Scenario& s, Str* report) {
  report->appendf("  %s:\n", title);
  if (!s.inspected) {
    report->appendf("    could not be inspected: %s\n", s.problem.c_str());
    return;
  }
  for (const char* nf : s.not_found) report->appendf("    %s: not found\n", nf);
  if (s.bindings.empty())
    report->append("    calls none of shm_open, shm_unlink, sem_open, sem_close, sem_unlink\n");
  // One line per (user, provider): "sem_open@GLIBC_2.2.5, ... (user) -> provider".
  Vec<size_t> done;
  for (size_t i = 0; i < s.bindings.size(); ++i) {
    bool seen = false;
    for (size_t d : done) {
      const Binding& a = s.bindings[d];
      const Binding& b = s.bindings[i];
      if (strcmp(a.user, b.user) == 0 &&
          ((a.provider == nullptr && b.provider == nullptr) ||
           (a.provider != nullptr && b.provider != nullptr && strcmp(a.provider, b.provider) == 0)))
        seen = true;
    }
    if (seen) continue;
    done.push(i);
    const Binding& first = s.bindings[i];
    Str symbols;
    for (size_t k = i; k < s.bindings.size(); ++k) {
      const Binding& b = s.bindings[k];
      bool same = strcmp(b.user, first.user) == 0 &&
                  ((b.provider == nullptr && first.provider == nullptr) ||
                   (b.provider != nullptr && first.provider != nullptr &&
                    strcmp(b.provider, first.provider) == 0));
      if (same) symbols.appendf("%s%s", symbols.empty() ? "" : ", ", b.symbol);
    }
    report->appendf("    %s (%s) -> %s%s\n", symbols.c_str(), first.user,
                    first.provider != nullptr ? first.provider : "nothing",
                    first.provider == nullptr ? ""
                    : first.lambshm           ? " (lambshm)"
                                              : " (stock glibc)");
  }
  if (p.python) {
    report->appendf("    multiprocessing hook: %s\n", s.python_hook == 1   ? "loaded"
                                                      : s.python_hook == 0 ? "not loaded"
                                                                           : "unknown");
  }
}

}  // namespace

int cmd_doctor(int argc, char** argv) {
  static const OptionSpec kOptions[] = {
      {"for", 0, true}, {"dir", 0, true}, {"lib-dir", 0, true}, {"help", 'h', false}};
  enum { kFor, kDir, kLibDir, kHelpOption };
  const char* program = nullptr;
  const char* dir_option = nullptr;
  RunOptions run_options;
  Args args(argc, argv, kOptions, sizeof kOptions / sizeof kOptions[0]);
  for (int o; (o = args.next()) != Args::kDone;) {
    switch (o) {
      case kFor: program = args.value(); break;
      case kDir: dir_option = args.value(); break;
      case kLibDir: run_options.lib_dir = args.value(); break;
      case kHelpOption: fputs(kHelp, stdout); return kExitOk;
      default: return kExitUsage;
    }
  }
  if (!args.operands().empty()) return usage_error("unexpected argument '%s'", args.operands()[0]);
  if (program != nullptr && program[0] == '\0') return usage_error("--for needs a program");
  run_options.dir = dir_option;

  Str report;
  GlibcVersion glibc = running_glibc();
  Mechanism mechanism = mechanism_for(glibc);
  struct utsname u;
  bool have_uname = uname(&u) == 0;
  report.appendf("System\n  glibc %s (%s), Linux %s %s\n", glibc.text,
                 shm_in_libc(glibc) ? "shm_open and sem_open are in libc.so.6: lambshm works "
                                      "by preload"
                                    : "shm_open is in librt.so.1, sem_open in libpthread.so.0: "
                                      "lambshm works as an overlay",
                 have_uname ? u.release : "?", have_uname ? u.machine : "");
  Stock stock;
  check_dev_shm(glibc, &report, &stock);
  report.appendf("  stock glibc: shm_open and sem_open %s", stock.works ? "work, in " : "fail with ");
  if (stock.works) {
    report.appendf("%s\n", stock.dir);
  } else {
    errno_text(stock.error, &report);
    report.appendf(": %s\n", stock.why.c_str());
  }
  bool dev_shm_usable = stock.works && stock.dir != nullptr && strcmp(stock.dir, "/dev/shm") == 0;

  DirChoice dir;
  choose_dir(dir_option, &dir);
  Backing backing;
  check_backing(dir, &report, &backing);

  Install install;
  find_install(run_options.lib_dir, &install);
  check_libraries(install, mechanism, &report);
  Str active_how;
  bool active = active_here(mechanism, &active_how);
  report.appendf("  in this environment: %s\n",
                 active ? active_how.c_str() : "not active (LD_LIBRARY_PATH/LD_PRELOAD do not "
                                               "name lambshm's libraries)");
  RunPlan plan;
  Str run_problem;
  bool run_ok = plan_run(run_options, install, &plan, &run_problem);
  report.appendf("  lambshm run: %s%s\n", run_ok ? "would use " : "cannot work here: ",
                 run_ok ? mechanism_name(plan.mechanism) : run_problem.c_str());

  ProgramReport prog;
  Judgement now, with_run;
  if (program != nullptr) {
    inspect_program(program, run_ok ? planned_environment(plan) : nullptr, &prog);
    if (!prog.problem.empty()) {
      print(report);
      error("cannot inspect %s", prog.problem.c_str());
      return kExitUsage;
    }
    report.appendf("Program %s", prog.given);
    if (prog.script != nullptr) report.appendf(" (a script run by %s)", prog.path);
    else if (strcmp(prog.given, prog.path) != 0) report.appendf(" (%s)", prog.path);
    report.append('\n');
    if (prog.static_binary) {
      report.append("  statically linked: its shm_open/sem_open are built in, and lambshm's "
                    "libraries cannot replace them\n");
      now.works = with_run.works = stock.works;
      now.uses = true;  // unknown: its calls are not in a symbol table
      if (!stock.works) {
        now.why.appendf("%s is statically linked and stock glibc fails with ", prog.path);
        errno_text(stock.error, &now.why);
        now.why.appendf(": %s", stock.why.c_str());
        with_run.why.append(now.why.c_str());
      }
    } else {
      if (prog.setuid)
        report.append("  set-uid or set-gid: the dynamic linker ignores LD_LIBRARY_PATH and "
                      "LD_PRELOAD for it\n");
      for (const char* m : prog.modules) report.appendf("  also inspected: %s\n", m);
      print_scenario("as things stand", prog, prog.now, &report);
      judge(prog, prog.now, stock, backing, dev_shm_usable, &now);
      if (run_ok) {
        print_scenario("under lambshm run", prog, prog.with_run, &report);
        judge(prog, prog.with_run, stock, backing, dev_shm_usable, &with_run);
      }
      if (!prog.now.inspected) {
        now.works = false;
        now.why.appendf("%s could not be inspected: %s", prog.path, prog.now.problem.c_str());
      }
      if (run_ok && !prog.with_run.inspected) {
        with_run.works = false;
        with_run.why.append("it could not be inspected under lambshm run");
      }
    }
  } else {
    now.works = active ? backing.works : stock.works;
    if (!now.works) {
      if (active) {
        now.why.appendf("lambshm is active but %s", backing.why.c_str());
      } else {
        now.why.append("stock glibc fails with ");
        errno_text(stock.error, &now.why);
        now.why.appendf(": %s", stock.why.c_str());
      }
    }
    with_run.works = backing.works;
    if (!backing.works) with_run.why.append(backing.why.c_str());
  }
  if (!run_ok) {
    with_run.works = false;
    with_run.why.clear();
    with_run.why.append(run_problem.c_str());
  }

  const char* target = program != nullptr ? program : "programs";
  if (now.works) {
    report.appendf("\nVerdict: shared memory will work for %s as things stand", target);
    if (program != nullptr && !now.uses)
      report.append(" (it does not call shm_open or sem_open itself)");
    report.append(".\n");
  } else {
    report.appendf("\nVerdict: shared memory will NOT work for %s as things stand: %s.\n", target,
                   now.why.c_str());
    if (with_run.works) {
      report.appendf("To fix: run it under lambshm, e.g. `lambshm run %s ...`, or set what "
                     "`lambshm run --print-env` prints in its environment.\n",
                     program != nullptr ? program : "PROGRAM");
    } else {
      report.appendf("lambshm run would not help yet: %s.\n", with_run.why.c_str());
    }
  }
  if (!print(report)) return kExitFailure;
  return now.works ? kExitOk : kExitFailure;
}

}  // namespace lambshm::cli
