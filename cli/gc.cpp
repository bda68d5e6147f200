// lambshm gc --older-than DURATION: remove objects nobody uses any more.
//
// On Lambda /tmp survives warm invocations, and objects a crashed or careless
// function never unlinked keep eating its 512 MiB.  gc removes shm objects,
// semaphores and orphaned temporaries that have not changed for DURATION and
// that no process has open or mapped (from /proc; a semaphore with registered
// waiters counts as in use too).  Anything else in the directory (links,
// directories) is not lambshm's and is left alone.
#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "objects.h"
#include "unique_fd.h"

namespace lambshm::cli {

namespace {

constexpr char kHelp[] =
    "Usage: lambshm gc --older-than DURATION [--dir DIR] [-n|--dry-run]\n"
    "Remove shm objects, semaphores and orphaned temporaries from the backing\n"
    "directory that have not changed for DURATION and that no process has open\n"
    "or mapped.  Directories, symbolic links and other files lambshm never makes\n"
    "are left alone.\n"
    "\n"
    "  --older-than DURATION  90 (seconds), 30s, 15m, 2h, 7d, 1w, or sums like 1h30m\n"
    "  --dir DIR              the backing directory (default: $LAMBSHM_DIR, else /tmp/shm)\n"
    "  -n, --dry-run          say what would be removed; remove nothing\n"
    "  -h, --help             show this help\n"
    "\n"
    "Whether an object is in use is read from /proc: processes of other users\n"
    "are visible only to root (and some not even to root), and gc warns when it\n"
    "could not look at some and is about to remove something.\n"
    "\n"
    "Exit status: 0 done, 1 something could not be removed or the directory is\n"
    "refused, 2 usage error.\n";

}  // namespace

int cmd_gc(int argc, char** argv) {
  static const OptionSpec kOptions[] = {{"older-than", 0, true},
                                        {"dir", 0, true},
                                        {"dry-run", 'n', false},
                                        {"help", 'h', false}};
  enum { kOlderThan, kDir, kDryRun, kHelpOption };
  const char* dir_option = nullptr;
  const char* older_text = nullptr;
  bool dry_run = false;
  Args args(argc, argv, kOptions, sizeof kOptions / sizeof kOptions[0]);
  for (int o; (o = args.next()) != Args::kDone;) {
    switch (o) {
      case kOlderThan: older_text = args.value(); break;
      case kDir:
        if (!absolute_dir_option("--dir", args.value())) return kExitUsage;
        dir_option = args.value();
        break;
      case kDryRun: dry_run = true; break;
      case kHelpOption: fputs(kHelp, stdout); return kExitOk;
      default: return kExitUsage;
    }
  }
  if (!args.operands().empty()) return usage_error("unexpected argument '%s'", args.operands()[0]);
  if (older_text == nullptr) return usage_error("--older-than DURATION is required");
  uint64_t older_than;
  if (!parse_duration(older_text, &older_than))
    return usage_error("invalid duration '%s' (examples: 90, 30s, 15m, 2h, 7d, 1h30m)",
                       older_text);

  DirChoice dir;
  choose_dir(dir_option, &dir);
  struct stat dir_st;
  bool missing;
  UniqueFd fd(open_dir_for_tools(dir, &dir_st, &missing));
  if (!fd.valid()) {
    if (!missing) return kExitFailure;
    printf("gc: %s does not exist: nothing to remove\n", dir.config.path);
    return kExitOk;
  }
  Vec<Object> objects;
  if (int r = list_objects(fd.get(), &objects); r < 0) {
    error("cannot read %s: %s", dir.config.path, strerror(-r));
    return kExitFailure;
  }
  Vec<Uninspected> uninspected;
  find_users(dir_st, &objects, &uninspected);
  auto removable = [&](const Object& o) {
    return o.kind != Kind::kOther && o.pid_count == 0 &&
           !(o.kind == Kind::kSem && o.sem_ok && o.sem_waiters > 0) &&
           o.age >= (double)older_than;
  };
  // Said only when it applies: something is about to go.
  if (!uninspected.empty() && std::any_of(objects.begin(), objects.end(), removable)) {
    Str who;
    describe_uninspected(uninspected, &who);
    error("warning: %s could not be inspected; an object only %s uses may be %sremoved",
          who.c_str(), uninspected.size() == 1 ? "it" : "they", dry_run ? "reported as " : "");
  }

  int status = kExitOk;
  size_t removed = 0, in_use = 0, newer = 0, foreign = 0;
  uint64_t freed = 0;
  for (const Object& o : objects) {
    if (o.kind == Kind::kOther) {
      ++foreign;
      continue;
    }
    if (o.pid_count > 0 || (o.kind == Kind::kSem && o.sem_ok && o.sem_waiters > 0)) {
      ++in_use;
      continue;
    }
    if (o.age < (double)older_than) {
      ++newer;
      continue;
    }
    Str line;
    line.appendf("%s %s ", dry_run ? "would remove" : "removed", kind_name(o.kind));
    printable(o.name, &line);
    line.append(" (");
    format_bytes((uint64_t)o.st.st_size, &line);
    line.append(", unchanged for ");
    format_age(o.age, &line);
    line.append(")\n");
    if (!dry_run) {
      int r = remove_entry(fd.get(), o.file, o.st);
      if (r == -ENOENT || r == -ESTALE) continue;  // someone else removed or replaced it
      if (r < 0) {
        Str name;
        printable(o.name, &name);
        error("cannot remove %s %s: %s", kind_name(o.kind), name.c_str(), strerror(-r));
        status = kExitFailure;
        continue;
      }
    }
    print(line);
    ++removed;
    freed += (uint64_t)o.st.st_size;
  }
  Str summary;
  summary.appendf("gc: %s %zu object%s (", dry_run ? "would remove" : "removed", removed,
                  removed == 1 ? "" : "s");
  format_bytes(freed, &summary);
  summary.appendf("); kept %zu in use, %zu changed within %s", in_use, newer, older_text);
  if (foreign > 0) summary.appendf(", %zu not lambshm's", foreign);
  summary.append('\n');
  if (!print(summary)) return kExitFailure;
  return status;
}

}  // namespace lambshm::cli
