// lambshm rm NAME...: remove objects by name, as shm_unlink and sem_unlink do.
#include <cerrno>
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "ipc_name.h"
#include "linux_syscall.h"
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
    "Nothing outside the backing directory is ever removed and no symbolic link is\n"
    "followed (a link in the directory is removed itself, as shm_unlink would);\n"
    "directories are refused.  Processes that have an object open or mapped keep\n"
    "using it; only its name goes.\n"
    "\n"
    "Exit status: 0 all removed, 1 a name was missing or could not be removed,\n"
    "2 usage error.\n";

}  // namespace

int cmd_rm(int argc, char** argv) {
  static const OptionSpec kOptions[] = {{"dir", 0, true},       {"shm", 0, false},
                                        {"sem", 0, false},       {"force", 'f', false},
                                        {"dry-run", 'n', false}, {"verbose", 'v', false},
                                        {"help", 'h', false}};
  enum { kDir, kShmOnly, kSemOnly, kForce, kDryRun, kVerbose, kHelpOption };
  const char* dir_option = nullptr;
  bool shm = true, sem = true, force = false, dry_run = false, verbose = false;
  bool only_shm = false, only_sem = false;
  Args args(argc, argv, kOptions, sizeof kOptions / sizeof kOptions[0]);
  for (int o; (o = args.next()) != Args::kDone;) {
    switch (o) {
      case kDir:
        if (!absolute_dir_option("--dir", args.value())) return kExitUsage;
        dir_option = args.value();
        break;
      case kShmOnly: only_shm = true; break;
      case kSemOnly: only_sem = true; break;
      case kForce: force = true; break;
      case kDryRun: dry_run = true; break;
      case kVerbose: verbose = true; break;
      case kHelpOption: fputs(kHelp, stdout); return kExitOk;
      default: return kExitUsage;
    }
  }
  if (only_shm && only_sem) return usage_error("--shm and --sem exclude each other");
  if (only_shm) sem = false;
  if (only_sem) shm = false;
  if (args.operands().empty()) return usage_error("no object name given");

  DirChoice dir;
  choose_dir(dir_option, &dir);
  struct stat dir_st;
  bool missing_dir;
  UniqueFd fd(open_dir_for_tools(dir, &dir_st, &missing_dir));
  if (!fd.valid() && !missing_dir) return kExitFailure;

  int status = kExitOk;
  for (const char* name : args.operands()) {
    IpcName c[2];  // the shm object's file, then the semaphore's
    size_t n = 0;
    int shm_r = make_ipc_name(name, kShmPrefix, &c[n]);
    if (shm_r == -EINVAL) {
      Str shown;
      printable(name, &shown);
      error("'%s' is not an object name (names are one path component: no '/', not '.' or '..')",
            shown.c_str());
      status = kExitFailure;
      continue;
    }
    if (shm && shm_r == 0) ++n;
    if (sem && make_ipc_name(name, kSemPrefix, &c[n]) == 0) ++n;
    if (n == 0) {
      error("name too long (the limit is %d bytes)", NAME_MAX);
      status = kExitFailure;
      continue;
    }
    size_t found = 0;
    for (size_t i = 0; i < n && fd.valid(); ++i) {
      struct stat st;
      int r = sys::fstatat(fd.get(), c[i].file, &st, AT_SYMLINK_NOFOLLOW);
      if (r == -ENOENT) continue;
      ++found;
      // What ls would call it: a file "sem.x" named as a shm object is semaphore x.
      const char* file_name = c[i].file;
      const char* kind = "shm";
      if (r == 0 && !S_ISREG(st.st_mode)) {
        kind = "other";
      } else if (strncmp(file_name, kSemPrefix, sizeof kSemPrefix - 1) == 0 &&
                 file_name[sizeof kSemPrefix - 1] != '\0') {
        kind = "sem";
        file_name += sizeof kSemPrefix - 1;
      }
      Str shown_text;
      printable(file_name, &shown_text);
      const char* shown = shown_text.c_str();
      if (r == 0 && S_ISDIR(st.st_mode)) r = -EISDIR;
      if (r == 0 && dry_run) {
        printf("would remove %s %s\n", kind, shown);
        continue;
      }
      if (r == 0) r = remove_entry(fd.get(), c[i].file, st);
      if (r == -ENOENT) {
        --found;  // removed by someone else meanwhile
        continue;
      }
      if (r < 0) {
        error("cannot remove %s %s: %s", kind, shown,
              r == -EISDIR ? "it is a directory, not an object"
                           : r == -ESTALE ? "it was replaced while we looked" : strerror(-r));
        status = kExitFailure;
        continue;
      }
      if (verbose) printf("removed %s %s\n", kind, shown);
    }
    if (found == 0 && !force) {
      Str shown;
      printable(name, &shown);
      error("%s: no such object%s", shown.c_str(),
            missing_dir ? " (the backing directory does not exist)" : "");
      status = kExitFailure;
    }
  }
  fflush(stdout);
  return ferror(stdout) ? kExitFailure : status;
}

}  // namespace lambshm::cli
