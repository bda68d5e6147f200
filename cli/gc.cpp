// lambshm gc --older-than DURATION: remove objects nobody uses any more.
//
// On Lambda /tmp survives warm invocations, and objects a crashed or careless
// function never unlinked keep eating its 512 MiB.  gc removes shm objects,
// semaphores and orphaned temporaries that have not changed for DURATION and
// that no process has open or mapped (from /proc; a semaphore with registered
// waiters counts as in use too).  What is lambshm's is core/ownership.h's
// rule: a directory lambshm did not make is refused, and anything else in
// one it did (links, directories, files of other shapes) is left alone.
//
// Three steps: the options, each entry's fate (fate_of, the one rule), and
// the report (text or JSON) of what was done.
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
    "Usage: lambshm gc --older-than DURATION [--dir DIR] [-n|--dry-run] [-v] [--json]\n"
    "Remove shm objects, semaphores and orphaned temporaries from the backing\n"
    "directory that have not changed for DURATION and that no process has open\n"
    "or mapped.  Directories, symbolic links and other files lambshm never makes\n"
    "are left alone, and a directory lambshm did not make is refused.\n"
    "\n"
    "  --older-than DURATION  90 (seconds), 30s, 15m, 2h, 7d, 1w, or sums like 1h30m\n"
    "  --dir DIR              the backing directory (default: $LAMBSHM_DIR, else /tmp/shm)\n"
    "  -n, --dry-run          say what would be removed; remove nothing\n"
    "  -v, --verbose          also say what is kept, and why\n"
    "  --json                 one JSON document, for scripts\n"
    "  -h, --help             show this help\n"
    "\n"
    "Whether an object is in use is read from /proc: processes of other users\n"
    "are visible only to root (and some not even to root), and gc warns when it\n"
    "could not look at some and is about to remove something.\n"
    "\n"
    "Exit status: 0 done, 1 something could not be removed or the directory is\n"
    "refused, 2 usage error.\n";

constexpr int kContinue = -1;

struct Options {
  const char* dir = nullptr;
  const char* older_text = nullptr;
  uint64_t older_than = 0;
  bool dry_run = false;
  bool verbose = false;
  bool json = false;
};

// Fills `out`; kContinue, or the status to exit with.
int parse_options(int argc, char** argv, Options* out) {
  static const OptionSpec kOptions[] = {{"older-than", 0, true}, {"dir", 0, true},
                                        {"dry-run", 'n', false}, {"verbose", 'v', false},
                                        {"json", 0, false},      {"help", 'h', false}};
  enum { kOlderThan, kDir, kDryRun, kVerbose, kJson, kHelpOption };
  Args args(argc, argv, kOptions, sizeof kOptions / sizeof kOptions[0]);
  for (int o; (o = args.next()) != Args::kDone;) {
    switch (o) {
      case kOlderThan: out->older_text = args.value(); break;
      case kDir:
        if (!absolute_dir_option("--dir", args.value())) return kExitUsage;
        out->dir = args.value();
        break;
      case kDryRun: out->dry_run = true; break;
      case kVerbose: out->verbose = true; break;
      case kJson: out->json = true; break;
      case kHelpOption: fputs(kHelp, stdout); return kExitOk;
      default: return kExitUsage;
    }
  }
  if (!args.operands().empty()) return usage_error("unexpected argument '%s'", args.operands()[0]);
  if (out->older_text == nullptr) return usage_error("--older-than DURATION is required");
  if (!parse_duration(out->older_text, &out->older_than))
    return usage_error("invalid duration '%s' (examples: 90, 30s, 15m, 2h, 7d, 1h30m)",
                       out->older_text);
  return kContinue;
}

enum class Fate { kRemove, kInUse, kNewer, kForeign };

// The rule: what gc does with an entry.
Fate fate_of(const Object& o, uint64_t older_than) {
  if (o.kind == Kind::kOther) return Fate::kForeign;
  // A name nobody holds is gone already but for the name: freed at any age.
  if (o.in_table && o.stale) return Fate::kRemove;
  if (o.pid_count > 0 || (o.kind == Kind::kSem && o.sem_ok && o.sem_waiters > 0))
    return Fate::kInUse;
  return o.age < (double)older_than ? Fate::kNewer : Fate::kRemove;
}

struct Outcome {
  const Object* object;
  Fate fate;
  int error;  // kRemove: 0, or why removing failed (-errno)
};

struct Result {
  Vec<Outcome> outcomes;  // gone meanwhile: left out
  size_t count[4] = {};   // by Fate, removal failures not counted
  uint64_t freed = 0;
  bool failed = false;
};

// Removes (unless dry_run) what fate_of says, into `out`.
void collect(int dir_fd, const struct stat& dir_st, const Vec<Object>& objects,
             const Options& options, Result* out) {
  for (const Object& o : objects) {
    Outcome outcome{&o, fate_of(o, options.older_than), 0};
    if (outcome.fate == Fate::kRemove && !options.dry_run) {
      outcome.error = o.in_table ? remove_table_object(dir_fd, dir_st, o)
                                 : remove_entry(dir_fd, o.file, o.st);
      if (outcome.error == -ENOENT || outcome.error == -ESTALE) continue;  // removed or replaced
    }
    out->outcomes.push(outcome);
    if (outcome.error != 0) {
      out->failed = true;
      continue;
    }
    ++out->count[(int)outcome.fate];
    if (outcome.fate == Fate::kRemove) out->freed += (uint64_t)o.st.st_size;
  }
}

// DURATION as given, with its unit: a bare number is seconds.
void duration_text(const char* text, Str* out) {
  out->append(text);
  if (strspn(text, "0123456789") == strlen(text)) out->append('s');
}

void print_text(const Result& result, const Options& options, Str* out) {
  for (const Outcome& outcome : result.outcomes) {
    const Object& o = *outcome.object;
    Str name;
    printable(o.name, &name);
    if (outcome.error != 0) {
      error("cannot remove %s %s: %s", kind_name(o.kind), name.c_str(), strerror(-outcome.error));
      continue;
    }
    switch (outcome.fate) {
      case Fate::kRemove:
        out->appendf("%s %s %s (", options.dry_run ? "would remove" : "removed", kind_name(o.kind),
                     name.c_str());
        format_bytes((uint64_t)o.st.st_size, out);
        out->append(", unchanged for ");
        format_age(o.age, out);
        out->append(")\n");
        break;
      case Fate::kInUse:
        if (!options.verbose) break;
        out->appendf("kept %s %s: in use", kind_name(o.kind), name.c_str());
        for (size_t i = 0; i < o.pid_count; ++i)
          out->appendf("%s%d", i == 0 ? " by PID " : ", ", (int)o.pids[i]);
        if (o.pid_count == 0) out->appendf(" (%u waiting)", o.sem_waiters);
        out->append('\n');
        break;
      case Fate::kNewer:
        if (!options.verbose) break;
        out->appendf("kept %s %s: changed ", kind_name(o.kind), name.c_str());
        format_age(o.age, out);
        out->append(" ago\n");
        break;
      case Fate::kForeign:
        if (options.verbose) out->appendf("left %s: not lambshm's\n", name.c_str());
        break;
    }
  }
  out->appendf("gc: %s %zu object%s (", options.dry_run ? "would remove" : "removed",
               result.count[(int)Fate::kRemove], result.count[(int)Fate::kRemove] == 1 ? "" : "s");
  format_bytes(result.freed, out);
  out->appendf("); kept %zu in use, %zu changed within ", result.count[(int)Fate::kInUse],
               result.count[(int)Fate::kNewer]);
  duration_text(options.older_text, out);
  if (result.count[(int)Fate::kForeign] > 0)
    out->appendf(", %zu not lambshm's", result.count[(int)Fate::kForeign]);
  out->append('\n');
}

const char* fate_name(Fate fate) {
  switch (fate) {
    case Fate::kRemove: return "removed";
    case Fate::kInUse: return "in_use";
    case Fate::kNewer: return "newer";
    case Fate::kForeign: return "not_lambshm";
  }
  return "?";
}

void print_json(const DirChoice& dir, bool exists, const Result& result,
                const Vec<Uninspected>& uninspected, const Options& options, Str* out) {
  out->append("{\"directory\": ");
  json_string(dir.config.path, out);
  out->appendf(", \"exists\": %s, \"dry_run\": %s, \"older_than_seconds\": %llu",
               exists ? "true" : "false", options.dry_run ? "true" : "false",
               (unsigned long long)options.older_than);
  out->append(", \"pids_not_inspected\": [");
  for (size_t i = 0; i < uninspected.size(); ++i)
    out->appendf("%s%d", i ? ", " : "", (int)uninspected[i].pid);
  out->appendf("], \"removed\": %zu, \"bytes_removed\": %llu, \"in_use\": %zu, \"newer\": %zu"
               ", \"not_lambshm\": %zu, \"entries\": [",
               result.count[(int)Fate::kRemove], (unsigned long long)result.freed,
               result.count[(int)Fate::kInUse], result.count[(int)Fate::kNewer],
               result.count[(int)Fate::kForeign]);
  for (size_t i = 0; i < result.outcomes.size(); ++i) {
    const Outcome& outcome = result.outcomes[i];
    const Object& o = *outcome.object;
    out->append(i == 0 ? "\n  {" : ",\n  {");
    out->appendf("\"kind\": \"%s\", \"name\": ", kind_name(o.kind));
    json_string(o.name, out);
    out->append(", \"name_bytes\": ");
    json_hex(o.name, out);
    out->append(", \"file\": ");
    json_string(o.file, out);
    out->appendf(", \"size\": %lld, \"age_seconds\": %.3f, \"fate\": \"%s\", \"pids\": [",
                 (long long)o.st.st_size, o.age,
                 outcome.error != 0 ? "failed" : fate_name(outcome.fate));
    for (size_t k = 0; k < o.pid_count; ++k) out->appendf("%s%d", k ? ", " : "", (int)o.pids[k]);
    out->append("], \"error\": ");
    if (outcome.error != 0) json_string(strerror(-outcome.error), out);
    else out->append("null");
    out->append('}');
  }
  out->append(result.outcomes.empty() ? "]}\n" : "\n]}\n");
}

// Said only when it applies: something is about to go.
void warn_uninspected(const Vec<Object>& objects, const Vec<Uninspected>& uninspected,
                      const Options& options) {
  if (uninspected.empty()) return;
  if (std::none_of(objects.begin(), objects.end(), [&](const Object& o) {
        return fate_of(o, options.older_than) == Fate::kRemove;
      }))
    return;
  Str who;
  describe_uninspected(uninspected, &who);
  fflush(stdout);  // nothing is on it yet; a warning never runs into a line
  error("warning: %s could not be inspected; an object only %s uses may be %sremoved",
        who.c_str(), uninspected.size() == 1 ? "it" : "they", options.dry_run ? "reported as " : "");
}

}  // namespace

int cmd_gc(int argc, char** argv) {
  Options options;
  if (int r = parse_options(argc, argv, &options); r != kContinue) return r;

  DirChoice dir;
  choose_dir(options.dir, &dir);
  struct stat dir_st;
  bool missing;
  UniqueFd fd(open_dir_for_tools(dir, &dir_st, &missing));
  Vec<Object> objects;
  Vec<Uninspected> uninspected;
  Result result;
  if (fd.valid()) {
    if (int r = list_objects(fd.get(), dir_st, &objects); r < 0) {
      error("cannot read %s: %s", dir.config.path, strerror(-r));
      return kExitFailure;
    }
    find_users(dir_st, &objects, &uninspected);
    warn_uninspected(objects, uninspected, options);
    collect(fd.get(), dir_st, objects, options, &result);
  } else if (!missing) {
    return kExitFailure;
  }
  Str out;
  if (options.json) {
    print_json(dir, !missing, result, uninspected, options, &out);
    for (const Outcome& outcome : result.outcomes)
      if (outcome.error != 0)
        error("cannot remove %s: %s", outcome.object->file, strerror(-outcome.error));
  } else if (missing) {
    out.appendf("gc: %s does not exist: nothing to remove\n", dir.config.path);
  } else {
    print_text(result, options, &out);
  }
  if (!print(out)) return kExitFailure;
  return result.failed ? kExitFailure : kExitOk;
}

}  // namespace lambshm::cli
