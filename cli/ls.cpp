// lambshm ls: every object in the backing directory.
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "objects.h"
#include "unique_fd.h"

namespace lambshm::cli {

namespace {

constexpr char kHelp[] =
    "Usage: lambshm ls [--dir DIR] [--json]\n"
    "List every object in the backing directory: its kind (shm, sem, tmp for a\n"
    "semaphore being created or left behind by a killed creator, other for\n"
    "anything lambshm never makes), name, size, owner, mode, age (time since it\n"
    "last changed), a semaphore's value, and the processes that have it open or\n"
    "mapped.  On a disk, the names of memfd objects are in your name table\n"
    "(.lambshm-names.5.UID, not listed itself): one that nobody holds any more\n"
    "is marked (stale).\n"
    "\n"
    "  --dir DIR   the backing directory (default: $LAMBSHM_DIR, else /tmp/shm)\n"
    "  --json      one JSON document, for scripts\n"
    "  -h, --help  show this help\n"
    "\n"
    "Exit status: 0 listed (a missing directory lists nothing), 1 the directory\n"
    "is refused or unreadable, 2 usage error.\n";

void mode_text(mode_t mode, Str* out) { out->appendf("%04o", (unsigned)(mode & 07777)); }

void owner_text(uid_t uid, Str* out) {
  const char* name = user_name(uid);
  if (name != nullptr) {
    out->append(name);
  } else {
    out->appendf("%u", (unsigned)uid);
  }
}

void pids_text(const Object& o, Str* out) {
  if (o.pid_count == 0) {
    out->append('-');
    return;
  }
  for (size_t i = 0; i < o.pid_count; ++i) out->appendf("%s%d", i ? "," : "", (int)o.pids[i]);
}

void value_text(const Object& o, Str* out) {
  if (o.kind != Kind::kSem || o.stale) {
    out->append('-');
  } else if (!o.sem_ok) {
    out->append("invalid");
  } else {
    out->appendf("%u", o.sem_value);
    if (o.sem_waiters != 0) out->appendf(" (%u waiting)", o.sem_waiters);
  }
}

// A temporary nobody holds is the leftover of a creator killed half-way.
bool orphaned(const Object& o) { return o.kind == Kind::kTemp && o.pid_count == 0; }

void print_table(const Vec<Object>& objects, const Vec<Uninspected>& uninspected) {
  enum { kKind, kName, kSize, kOwner, kMode, kAge, kValue, kUsers, kColumns };
  static const char* const kHeaders[kColumns] = {"KIND",  "NAME", "SIZE",  "OWNER",
                                                 "MODE",  "AGE",  "VALUE", "USED BY"};
  size_t rows = objects.size() + 1;
  Vec<char*> cells;
  for (const char* h : kHeaders) cells.push(const_cast<char*>(h));
  for (const Object& o : objects) {
    Str c[kColumns];
    c[kKind].append(kind_name(o.kind));
    printable(o.name, &c[kName]);
    if (orphaned(o)) c[kName].append(" (orphaned)");
    if (o.stale) c[kName].append(" (stale)");
    c[kSize].appendf("%lld", (long long)o.st.st_size);
    owner_text(o.st.st_uid, &c[kOwner]);
    mode_text(o.st.st_mode, &c[kMode]);
    format_age(o.age, &c[kAge]);
    value_text(o, &c[kValue]);
    pids_text(o, &c[kUsers]);
    for (Str& s : c) cells.push(s.release());
  }
  size_t width[kColumns] = {};
  for (size_t r = 0; r < rows; ++r)
    for (size_t k = 0; k < kColumns; ++k) {
      size_t n = strlen(cells[r * kColumns + k]);
      if (n > width[k]) width[k] = n;
    }
  Str out;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t k = 0; k < kColumns; ++k) {
      const char* cell = cells[r * kColumns + k];
      bool right = k == kSize;
      bool last = k == kColumns - 1;
      if (right) out.appendf("%*s", (int)width[k], cell);
      else if (last) out.append(cell);
      else out.appendf("%-*s", (int)width[k], cell);
      if (!last) out.append("  ");
    }
    out.append('\n');
  }
  if (!uninspected.empty()) {
    out.append("(USED BY may be incomplete: ");
    describe_uninspected(uninspected, &out);
    out.append(" could not be inspected)\n");
  }
  print(out);
}

void print_json(const DirChoice& dir, bool exists, const Vec<Object>& objects,
                const Vec<Uninspected>& uninspected) {
  Str out;
  out.append("{\"directory\": ");
  json_string(dir.config.path, &out);
  out.appendf(", \"exists\": %s, \"processes_not_inspected\": %zu, \"pids_not_inspected\": [",
              exists ? "true" : "false", uninspected.size());
  for (size_t i = 0; i < uninspected.size(); ++i)
    out.appendf("%s%d", i ? ", " : "", (int)uninspected[i].pid);
  out.append("], \"objects\": [");
  for (size_t i = 0; i < objects.size(); ++i) {
    const Object& o = objects[i];
    out.append(i == 0 ? "\n  {" : ",\n  {");
    out.appendf("\"kind\": \"%s\", \"name\": ", kind_name(o.kind));
    json_string(o.name, &out);
    out.append(", \"name_bytes\": ");  // exact, whatever the bytes: hex
    json_hex(o.name, &out);
    out.append(", \"file\": ");
    json_string(o.file, &out);
    out.appendf(", \"size\": %lld, \"uid\": %u, \"owner\": ", (long long)o.st.st_size,
                (unsigned)o.st.st_uid);
    const char* owner = user_name(o.st.st_uid);
    if (owner != nullptr) {
      json_string(owner, &out);
    } else {
      out.append("null");
    }
    out.append(", \"mode\": \"");
    mode_text(o.st.st_mode, &out);
    out.appendf("\", \"mtime\": %lld, \"age_seconds\": %.3f", (long long)o.st.st_mtim.tv_sec,
                o.age);
    if (o.kind == Kind::kSem && o.sem_ok) {
      out.appendf(", \"value\": %u, \"waiters\": %u", o.sem_value, o.sem_waiters);
    } else {
      out.append(", \"value\": null, \"waiters\": null");
    }
    out.append(", \"pids\": [");
    for (size_t k = 0; k < o.pid_count; ++k) out.appendf("%s%d", k ? ", " : "", (int)o.pids[k]);
    out.appendf("], \"orphaned\": %s, \"stale\": %s}", orphaned(o) ? "true" : "false",
                o.stale ? "true" : "false");
  }
  out.append(objects.empty() ? "]}\n" : "\n]}\n");
  print(out);
}

}  // namespace

int cmd_ls(int argc, char** argv) {
  static const OptionSpec kOptions[] = {{"dir", 0, true}, {"json", 0, false}, {"help", 'h', false}};
  enum { kDir, kJson, kHelpOption };
  const char* dir_option = nullptr;
  bool json = false;
  Args args(argc, argv, kOptions, sizeof kOptions / sizeof kOptions[0]);
  for (int o; (o = args.next()) != Args::kDone;) {
    switch (o) {
      case kDir:
        if (!absolute_dir_option("--dir", args.value())) return kExitUsage;
        dir_option = args.value();
        break;
      case kJson: json = true; break;
      case kHelpOption: fputs(kHelp, stdout); return kExitOk;
      default: return kExitUsage;
    }
  }
  if (!args.operands().empty()) return usage_error("unexpected argument '%s'", args.operands()[0]);

  DirChoice dir;
  choose_dir(dir_option, &dir);
  struct stat dir_st;
  bool missing;
  UniqueFd fd(open_dir_for_tools(dir, &dir_st, &missing));
  Vec<Object> objects;
  Vec<Uninspected> uninspected;
  if (fd.valid()) {
    if (int r = list_objects(fd.get(), dir_st, &objects); r < 0) {
      error("cannot read %s: %s", dir.config.path, strerror(-r));
      return kExitFailure;
    }
    find_users(dir_st, &objects, &uninspected);
  } else if (!missing) {
    return kExitFailure;
  }
  if (json) {
    print_json(dir, !missing, objects, uninspected);
  } else if (missing) {
    error("%s does not exist yet: nothing to list", dir.config.path);
  } else if (!objects.empty()) {
    print_table(objects, uninspected);
  }
  fflush(stdout);
  return ferror(stdout) ? kExitFailure : kExitOk;
}

}  // namespace lambshm::cli
