// The report of `lambshm doctor`, as text and as JSON, from the facts and
// the verdicts (see doctor.h).  The JSON document carries the text report
// line by line, so nothing the text says is lost.
#include <cerrno>
#include <cstdio>

#include "doctor.h"

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

// --- The system --------------------------------------------------------------------

void print_system(const Facts& f, const Verdicts& v, Str* out) {
  out->appendf("System\n  glibc %s (%s), Linux %s %s\n", f.glibc.text,
               shm_in_libc(f.glibc) ? "shm_open and sem_open are in libc.so.6: lambshm works "
                                      "by preload"
                                    : "shm_open is in librt.so.1, sem_open in libpthread.so.0: "
                                      "lambshm works as an overlay",
               f.have_uname ? f.uname.release : "?", f.have_uname ? f.uname.machine : "");
  if (!shm_in_libc(f.glibc) && f.glibc.major == 2 && f.glibc.minor < 30)
    out->append("  dynamic linker: before 2.30 (glibc bug 24741), it looks for a symbol only in\n"
                "    the library its version names: under the overlay, each libpthread.so.0 or\n"
                "    librt.so.1 symbol a program needs must be in lambshm's (--for checks)\n");
  const DevShm& d = f.dev_shm;
  out->append("  /dev/shm: ");
  if (d.stat_result != 0) {
    out->append("missing\n");
  } else if (!d.is_dir) {
    out->append("exists but is not a directory\n");
  } else {
    if (d.have_fs) fs_text(d.fs_type, out);
    out->appendf(", mode %04o, %s\n", (unsigned)(d.mode & 07777),
                 d.writable == 0         ? "writable"
                 : d.writable == -EROFS ? "read-only"
                                        : "not writable by this user");
  }
  out->appendf("  stock glibc: shm_open and sem_open %s",
               v.stock.works ? "work, in " : "fail with ");
  if (v.stock.works) {
    out->appendf("%s\n", f.shm_dir);
  } else {
    stock_failure(v.stock, out);
    out->append('\n');
  }
}

// --- The backing directory ---------------------------------------------------------

void print_space(const Space& s, Str* out) {
  out->append("  filesystem: ");
  if (!s.known) {
    out->append("unknown\n");
    return;
  }
  fs_text(s.fs_type, out);
  out->append(", ");
  format_bytes(s.avail, out);
  out->append(" free of ");
  format_bytes(s.total, out);
  if (s.read_only) out->append(", mounted read-only");
  if (s.avail > 0 && s.avail < (1u << 20)) out->append(" (nearly full)");
  out->append('\n');
}

void print_owner(const struct stat& st, const char* note, Str* out) {
  const char* owner = user_name(st.st_uid);
  out->appendf("  owner %s%s%u%s, mode %04o%s\n", owner ? owner : "", owner ? " (uid " : "uid ",
               (unsigned)st.st_uid, owner ? ")" : "", (unsigned)(st.st_mode & 07777), note);
}

void print_contents(const BackingFacts& b, Str* out) {
  const size_t* n = b.count;  // by Kind: shm, sem, temporary, other
  out->appendf("  holds %zu shm object%s, %zu semaphore%s", n[0], n[0] == 1 ? "" : "s", n[1],
               n[1] == 1 ? "" : "s");
  if (n[2] != 0) out->appendf(", %zu temporar%s", n[2], n[2] == 1 ? "y" : "ies");
  if (n[3] != 0) out->appendf(", %zu other entr%s", n[3], n[3] == 1 ? "y" : "ies");
  out->append(" (");
  format_bytes(b.bytes, out);
  out->append("; `lambshm ls` lists them)\n");
}

void print_backing(const BackingFacts& b, const Backing& v, Str* out) {
  out->appendf("Backing directory %s (%s)\n", b.dir.config.path,
               strcmp(b.dir.source, "default") == 0 ? "the default; LAMBSHM_DIR is unset"
                                                    : b.dir.source);
  if (b.dir.config.error != 0) {
    out->appendf("  %s\n", v.why.c_str());
  } else if (b.opened == -ENOENT) {
    Str problem;
    bool cannot = creation_problem(b, &problem);
    out->appendf("  does not exist yet: %s\n",
                 cannot ? problem.c_str() : "it will be created, mode 1777, on first use");
    if (b.parent_stat == 0) print_space(b.space, out);
    if (b.parent_stat == 0 && b.objects != nullptr) out->appendf("  shm objects: %s\n", b.objects);
  } else if (b.opened < 0) {
    out->appendf("  refused: %s\n", b.refused != nullptr ? b.refused : strerror(-b.opened));
    if (b.have_stat) print_owner(b.st, "", out);
  } else {
    bool sticky = (b.st.st_mode & S_ISVTX) != 0;
    bool shared = (b.st.st_mode & (S_IWGRP | S_IWOTH)) != 0;
    print_owner(b.st,
                sticky   ? " (sticky: users cannot remove each other's objects)"
                : shared ? ""
                         : " (only its owner can create objects)",
                out);
    print_space(b.space, out);
    if (!v.works) {
      out->appendf("  %s\n", v.why.c_str());
      return;
    }
    out->append("  writable by this user\n");
    if (b.foreign != nullptr)
      out->appendf("  not lambshm's: %s; the libraries use it, but `lambshm ls`, `rm` and `gc` "
                   "refuse it: give lambshm a directory of its own (the default, /tmp/shm)\n",
                   b.foreign);
    if (b.objects != nullptr) out->appendf("  shm objects: %s\n", b.objects);
    if (b.listed) print_contents(b, out);
  }
}

// --- lambshm's libraries -----------------------------------------------------------

void print_libraries(const Facts& f, Str* out) {
  const LibraryFacts& l = f.libraries;
  out->appendf("lambshm libraries (%s layout)\n", f.install.layout);
  for (const Library& p : l.pieces)
    out->appendf("  %s%s: %s %s\n", p.what, p.mechanism == f.mechanism ? " (needed here)" : "",
                 p.path, lib_state_text(p.state));
  if (l.shim_missing_dependency != nullptr)
    out->appendf("  the libpthread.so.0 shim loads the stock library from %s, which is "
                 "missing here\n",
                 l.shim_missing_dependency);
  out->appendf("  keeper (holds shm objects on a disk): %s %s\n", f.install.keeper,
               l.keeper_present ? "present" : "missing");
  out->appendf("  Python multiprocessing hook: %s %s\n", l.hook.c_str(),
               l.hook_present ? "present" : "missing");
  out->appendf("  in this environment: %s\n",
               f.active ? f.active_how.c_str()
                        : "not active (LD_LIBRARY_PATH/LD_PRELOAD do not name lambshm's "
                          "libraries)");
  out->appendf("  lambshm run: %s%s\n", f.run_ok ? "would use " : "cannot work here: ",
               f.run_ok ? mechanism_name(f.plan.mechanism) : f.run_problem.c_str());
}

// --- A program ---------------------------------------------------------------------

// Whether two bindings share a line: the same user and the same provider
// (or both unresolved).
bool same_line(const Binding& a, const Binding& b) {
  return strcmp(a.user, b.user) == 0 &&
         ((a.provider == nullptr && b.provider == nullptr) ||
          (a.provider != nullptr && b.provider != nullptr && strcmp(a.provider, b.provider) == 0));
}

// One line per (user, provider): "sem_open@GLIBC_2.2.5, ... (user) -> provider".
// same_line is an equivalence, so a binding like any earlier one was printed with it.
void print_bindings(const Vec<Binding>& bindings, Str* out) {
  for (size_t i = 0; i < bindings.size(); ++i) {
    const Binding& first = bindings[i];
    bool seen = false;
    for (size_t d = 0; d < i && !seen; ++d) seen = same_line(bindings[d], first);
    if (seen) continue;
    Str symbols;
    for (size_t k = i; k < bindings.size(); ++k) {
      const Binding& b = bindings[k];
      if (same_line(b, first)) symbols.appendf("%s%s", symbols.empty() ? "" : ", ", b.symbol);
    }
    out->appendf("    %s (%s) -> %s%s\n", symbols.c_str(), first.user,
                 first.provider != nullptr ? first.provider : "nothing",
                 first.provider == nullptr ? ""
                 : first.lambshm           ? " (lambshm)"
                                           : " (stock glibc)");
  }
}

void print_scenario(const char* title, const ProgramReport& p, const Scenario& s, Str* out) {
  out->appendf("  %s:\n", title);
  if (!s.inspected) {
    out->appendf("    could not be inspected: %s\n", s.problem.c_str());
    return;
  }
  for (const char* nf : s.not_found) out->appendf("    %s: not found\n", nf);
  for (const char* lp : s.load_problems) out->appendf("    would not start: %s\n", lp);
  if (s.bindings.empty())
    out->append("    calls none of shm_open, shm_unlink, sem_open, sem_close, sem_unlink\n");
  print_bindings(s.bindings, out);
  if (p.python) {
    out->appendf("    multiprocessing hook: %s\n", s.python_hook == 1   ? "loaded"
                                                  : s.python_hook == 0 ? "not loaded"
                                                                       : "unknown");
  }
}

void print_program(const Facts& f, Str* out) {
  const ProgramReport& p = f.prog;
  out->appendf("Program %s", p.given);
  if (p.script != nullptr) out->appendf(" (a script run by %s)", p.path);
  else if (strcmp(p.given, p.path) != 0) out->appendf(" (%s)", p.path);
  out->append('\n');
  if (p.static_binary) {
    out->append("  statically linked: its shm_open/sem_open are built in, and lambshm's "
                "libraries cannot replace them\n");
    return;
  }
  if (p.setuid)
    out->append("  set-uid or set-gid: the dynamic linker ignores LD_LIBRARY_PATH and "
                "LD_PRELOAD for it\n");
  for (const char* m : p.modules) out->appendf("  also inspected: %s\n", m);
  print_scenario("as things stand", p, p.now, out);
  if (!f.run_ok) return;
  print_scenario("under lambshm run", p, p.with_run, out);
  if (p.run_preload)
    print_scenario("so lambshm run would use the preload library instead", p,
                   p.with_run_preload, out);
}

// --- The verdict -------------------------------------------------------------------

void print_verdict(const Facts& f, const Verdicts& v, Str* out) {
  const char* target = f.program != nullptr ? f.program : "programs";
  if (v.now.works) {
    out->appendf("\nVerdict: shared memory will work for %s as things stand", target);
    if (f.program != nullptr && !v.now.uses)
      out->append(" (it does not call shm_open or sem_open itself)");
    out->append(".\n");
    return;
  }
  out->appendf("\nVerdict: shared memory will NOT work for %s as things stand: %s.\n", target,
               v.now.why.c_str());
  if (v.with_run.works) {
    out->appendf("To fix: run it under lambshm, e.g. `lambshm run %s ...`, or set what "
                 "`lambshm run --print-env` prints in its environment.\n",
                 f.program != nullptr ? f.program : "PROGRAM");
  } else {
    out->appendf("lambshm run would not help yet: %s.\n", v.with_run.why.c_str());
  }
}

// --- JSON --------------------------------------------------------------------------

const char* json_bool(bool b) { return b ? "true" : "false"; }

void json_or_null(const char* s, Str* out) {
  if (s == nullptr) {
    out->append("null");
  } else {
    json_string(s, out);
  }
}

// {"works": ..., "why": ..., "program": ..., "with_run": {...}: the verdict first.
void json_verdict(const Facts& f, const Verdicts& v, Str* out) {
  out->appendf("{\"works\": %s, \"why\": ", json_bool(v.now.works));
  json_or_null(v.now.works ? nullptr : v.now.why.c_str(), out);
  out->append(", \"program\": ");
  json_or_null(f.program, out);
  out->appendf(",\n  \"with_run\": {\"works\": %s, \"why\": ", json_bool(v.with_run.works));
  json_or_null(v.with_run.works ? nullptr : v.with_run.why.c_str(), out);
  out->append('}');
}

void json_system(const Facts& f, const Verdicts& v, Str* out) {
  out->append(",\n  \"glibc\": ");
  json_string(f.glibc.text, out);
  out->appendf(", \"mechanism\": \"%s\", \"active\": %s,\n", mechanism_name(f.mechanism),
               json_bool(f.active));
  out->appendf("  \"stock\": {\"works\": %s, \"error\": ", json_bool(v.stock.works));
  json_or_null(v.stock.works ? nullptr : errno_name(v.stock.error), out);
  out->append(", \"dir\": ");
  json_or_null(f.shm_dir, out);
  out->append("},\n  \"backing_dir\": {\"path\": ");
  json_string(f.backing.dir.config.path, out);
  out->appendf(", \"from\": \"%s\", \"works\": %s, \"why\": ", f.backing.dir.source,
               json_bool(v.backing.works));
  json_or_null(v.backing.works ? nullptr : v.backing.why.c_str(), out);
  out->appendf("},\n  \"run\": {\"works\": %s, \"mechanism\": ", json_bool(f.run_ok));
  json_or_null(f.run_ok ? mechanism_name(f.plan.mechanism) : nullptr, out);
  out->append(", \"problem\": ");
  json_or_null(f.run_ok ? nullptr : f.run_problem.c_str(), out);
  out->append('}');
}

void json_lines(const Str& report, Str* out) {
  out->append(",\n  \"report\": [");
  const char* p = report.c_str();
  for (bool first = true; *p != '\0'; first = false) {
    size_t n = strcspn(p, "\n");
    out->append(first ? "\n    " : ",\n    ");
    json_string(p, n, out);
    p += n + (p[n] == '\n');
  }
  out->append("\n  ]\n}\n");
}

}  // namespace

void print_report(const Facts& facts, const Verdicts& verdicts, Str* out) {
  print_system(facts, verdicts, out);
  print_backing(facts.backing, verdicts.backing, out);
  print_libraries(facts, out);
  if (facts.program != nullptr) print_program(facts, out);
  print_verdict(facts, verdicts, out);
}

void print_json(const Facts& facts, const Verdicts& verdicts, const Str& report, Str* out) {
  json_verdict(facts, verdicts, out);
  json_system(facts, verdicts, out);
  json_lines(report, out);
}

}  // namespace lambshm::cli
