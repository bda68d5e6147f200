// lambshm rm NAME...: remove objects by name, as shm_unlink and sem_unlink do,
// but only what core/ownership.h says is lambshm's.
//
// Three steps: the options, each name's files and what happens to each
// (remove_file, the policy), and the messages.
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "args.h"
#include "commands.h"
#include "ipc_name.h"
#include "linux_syscall.h"
#include "memfd_store.h"
#include "name_table.h"
#include "objects.h"
#include "unique_fd.h"

namespace lambshm::cli {

namespace {

constexpr char kHelp[] =
    "Usage: lambshm rm [OPTION]... NAME...\n"
    "Remove objects from the backing directory, as shm_unlink and sem_unlink do.\n"
    "NAME is an object's name as `lambshm ls` shows it (a leading '/' is allowed,\n"
    "as in shm_open).  Without --shm or --sem, both the shm object and the\n"
    "semaphore of that name are removed, whichever exist.\n"
    "\n"
    "  --dir DIR      the backing directory (default: $LAMBSHM_DIR, else /tmp/shm)\n"
    "  --shm          only shm objects\n"
    "  --sem          only semaphores\n"
    "  -f, --force    no error for names that do not exist\n"
    "  -n, --dry-run  say what would be removed; remove nothing\n"
    "  -v, --verbose  say what is removed\n"
    "  -h, --help     show this help\n"
    "\n"
    "Only lambshm's objects are removed: a directory lambshm did not make is\n"
    "refused, and so is anything in it that `lambshm ls` calls 'other'\n"
    "(directories, symbolic links, files lambshm never makes).  No link is\n"
    "followed.  Processes that have an object open or mapped keep using it;\n"
    "only its name goes.\n"
    "\n"
    "Exit status: 0 all removed, 1 a name was missing or could not be removed,\n"
    "2 usage error.\n";

constexpr int kContinue = -1;

struct Options {
  const char* dir = nullptr;
  bool shm = true;
  bool sem = true;
  bool force = false;
  bool dry_run = false;
  bool verbose = false;
};

// Fills `out` and `names`; kContinue, or the status to exit with.
int parse_options(int argc, char** argv, Options* out, Vec<char*>* names) {
  static const OptionSpec kOptions[] = {{"dir", 0, true},       {"shm", 0, false},
                                        {"sem", 0, false},       {"force", 'f', false},
                                        {"dry-run", 'n', false}, {"verbose", 'v', false},
                                        {"help", 'h', false}};
  enum { kDir, kShmOnly, kSemOnly, kForce, kDryRun, kVerbose, kHelpOption };
  bool only_shm = false, only_sem = false;
  Args args(argc, argv, kOptions, sizeof kOptions / sizeof kOptions[0]);
  for (int o; (o = args.next()) != Args::kDone;) {
    switch (o) {
      case kDir:
        if (!absolute_dir_option("--dir", args.value())) return kExitUsage;
        out->dir = args.value();
        break;
      case kShmOnly: only_shm = true; break;
      case kSemOnly: only_sem = true; break;
      case kForce: out->force = true; break;
      case kDryRun: out->dry_run = true; break;
      case kVerbose: out->verbose = true; break;
      case kHelpOption: fputs(kHelp, stdout); return kExitOk;
      default: return kExitUsage;
    }
  }
  if (only_shm && only_sem) return usage_error("--shm and --sem exclude each other");
  out->sem = !only_shm;
  out->shm = !only_sem;
  if (args.operands().empty()) return usage_error("no object name given");
  for (char* name : args.operands()) names->push(name);
  return kContinue;
}

// The files `name` may be: the shm object's, then the semaphore's.  0, or
// -EINVAL (not a name), -EPERM (the directory's own file: its marker or a
// name table) or -ENAMETOOLONG.
int files_of(const char* name, const Options& options, IpcName files[2], size_t* n) {
  *n = 0;
  const char* file = name;
  while (*file == '/') ++file;
  if (strcmp(file, kDirMarker) == 0 || name_table::is_table_file(file)) return -EPERM;
  int shm = make_ipc_name(name, kShmPrefix, &files[0]);
  if (shm == -EINVAL) return shm;
  if (options.shm && shm == 0) ++*n;
  if (options.sem && make_ipc_name(name, kSemPrefix, &files[*n]) == 0) ++*n;
  return *n == 0 ? -ENAMETOOLONG : 0;
}

enum class Fate { kMissing, kRemoved, kWouldRemove, kForeign, kFailed };

struct Removal {
  Fate fate;
  Kind kind;
  const char* name;  // the object's name (a semaphore's without "sem.")
  int error;         // kFailed: -errno
};

// The policy: what happens to `file`.
Removal remove_file(int dir_fd, const struct stat& dir_st, const char* file,
                    const Options& options) {
  Removal r{Fate::kMissing, Kind::kOther, file, 0};
  if (name_table::is_table_file(file)) {
    r.fate = Fate::kForeign;  // the names themselves, never an object
    return r;
  }
  // A name of the caller's table is unlinked as shm_unlink does (the core's).
  if (live_in_table(dir_fd, dir_st, file, &r.kind)) {
    if (r.kind == Kind::kSem) r.name = file + sizeof kSemPrefix - 1;
    if (options.dry_run) {
      r.fate = Fate::kWouldRemove;
      return r;
    }
    IpcName name;
    memcpy(name.file, file, strlen(file) + 1);
    int e = memfd_store::unlink_in_table(dir_fd, dir_st.st_dev, dir_st.st_ino, name);
    r.fate = e == 0 ? Fate::kRemoved : Fate::kMissing;  // kNotInTable: unlinked meanwhile
    return r;
  }
  struct stat st;
  if (int e = sys::fstatat(dir_fd, file, &st, AT_SYMLINK_NOFOLLOW); e < 0) {
    r.fate = e == -ENOENT ? Fate::kMissing : Fate::kFailed;
    r.error = e;
    return r;
  }
  r.kind = kind_of(classify_entry(file, st, dir_st));
  if (r.kind == Kind::kSem) r.name = file + sizeof kSemPrefix - 1;
  if (r.kind == Kind::kOther) {
    r.fate = Fate::kForeign;
    return r;
  }
  if (options.dry_run) {
    r.fate = Fate::kWouldRemove;
    return r;
  }
  r.error = remove_entry(dir_fd, file, st);
  r.fate = r.error == 0 ? Fate::kRemoved : r.error == -ENOENT ? Fate::kMissing : Fate::kFailed;
  return r;
}

// Says what happened; false for a failure.
bool report(const Removal& r, const Options& options) {
  Str shown;
  printable(r.name, &shown);
  switch (r.fate) {
    case Fate::kMissing: return true;
    case Fate::kRemoved:
      if (options.verbose) printf("removed %s %s\n", kind_name(r.kind), shown.c_str());
      return true;
    case Fate::kWouldRemove:
      printf("would remove %s %s\n", kind_name(r.kind), shown.c_str());
      return true;
    case Fate::kForeign:
      error("%s is not a lambshm object (a directory, a link or a file lambshm never makes); "
            "left alone", shown.c_str());
      return false;
    case Fate::kFailed:
      error("cannot remove %s %s: %s", kind_name(r.kind), shown.c_str(),
            r.error == -ESTALE ? "it was replaced while we looked" : strerror(-r.error));
      return false;
  }
  return false;
}

}  // namespace

int cmd_rm(int argc, char** argv) {
  Options options;
  Vec<char*> names;
  if (int r = parse_options(argc, argv, &options, &names); r != kContinue) return r;

  DirChoice dir;
  choose_dir(options.dir, &dir);
  struct stat dir_st;
  bool missing_dir;
  UniqueFd fd(open_dir_for_tools(dir, &dir_st, &missing_dir));
  if (!fd.valid() && !missing_dir) return kExitFailure;

  int status = kExitOk;
  for (const char* name : names) {
    Str shown;
    printable(name, &shown);
    IpcName files[2];
    size_t n;
    if (int e = files_of(name, options, files, &n); e < 0) {
      if (e == -EINVAL)
        error("'%s' is not an object name (names are one path component: no '/', not '.' or "
              "'..')", shown.c_str());
      else if (e == -EPERM)
        error("'%s' is not a lambshm object: it is the backing directory's own", shown.c_str());
      else
        error("name too long (the limit is %d bytes)", NAME_MAX);
      status = kExitFailure;
      continue;
    }
    size_t found = 0;
    for (size_t i = 0; i < n && fd.valid(); ++i) {
      Removal r = remove_file(fd.get(), dir_st, files[i].file, options);
      if (r.fate != Fate::kMissing) ++found;
      if (!report(r, options)) status = kExitFailure;
    }
    if (found == 0 && !options.force) {
      error("%s: no such object%s", shown.c_str(),
            missing_dir ? " (the backing directory does not exist)" : "");
      status = kExitFailure;
    }
  }
  fflush(stdout);
  return ferror(stdout) ? kExitFailure : status;
}

}  // namespace lambshm::cli
