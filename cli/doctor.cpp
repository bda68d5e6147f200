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
// already activates them (those checks are in doctor_checks.cpp); and with
// --for, a program (doctor_program.cpp).  This file judges and reports.
//
// The exit status answers one question: will shared memory work as things
// stand (0) or not (1)?  `lambshm run lambshm doctor` answers it for run.
#include <sys/utsname.h>

#include <cstdio>

#include "args.h"
#include "commands.h"
#include "doctor.h"

namespace lambshm::cli {

namespace {

constexpr char kHelp[] =
    "Usage: lambshm doctor [--for PROGRAM] [--dir DIR] [--lib-dir DIR] [--json]\n"
    "Check whether POSIX shared memory (shm_open, sem_open, Python's\n"
    "multiprocessing) will work here, say in plain words what fails and what to\n"
    "do: /dev/shm and what stock glibc does with it, the glibc version, the\n"
    "backing directory (owner, mode, sticky bit, filesystem, free space), and\n"
    "whether lambshm's libraries are there and active.  Changes nothing.\n"
    "\n"
    "  --for PROGRAM  also work out where PROGRAM's shm_open/sem_open calls go, as\n"
    "                 things stand and under `lambshm run` (for a Python\n"
    "                 interpreter, its multiprocessing modules too), and whether\n"
    "                 it would start: the versions of libpthread.so.0 and\n"
    "                 librt.so.1 that everything it loads needs\n"
    "  --dir DIR      the backing directory (default: $LAMBSHM_DIR, else /tmp/shm)\n"
    "  --lib-dir DIR  lambshm's libraries are in DIR, not next to this program\n"
    "  --json         the same as one JSON document (works, why, ..., and the report's\n"
    "                 lines), e.g. for a Lambda handler to print\n"
    "  -h, --help     show this help\n"
    "\n"
    "Exit status: 0 shared memory will work as things stand, 1 it will not,\n"
    "2 usage error, or PROGRAM could not be found or judged (a script run by a\n"
    "shell runs programs no file names: ask about the one it runs).\n"
    "(`lambshm run lambshm doctor` checks the environment `run` gives.)\n";

// How stock glibc fails: "ENOENT (Python: ...): <why>".
void stock_failure(const Stock& s, Str* out) {
  errno_text(s.error, out);
  out->appendf(": %s", s.why.c_str());
}

// --- The program -------------------------------------------------------------------

struct Judgement {
  bool works = true;
  bool uses = false;  // calls any named-object function
  Str why;
};

void judge(const ProgramReport& p, const Scenario& s, const Stock& stock, const Backing& backing,
           bool dev_shm_usable, Judgement* out) {
  if (!s.load_problems.empty()) {
    out->works = false;
    out->why.appendf("it would not start: %s", s.load_problems[0]);
  }
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
      stock_failure(stock, &out->why);
    }
  }
  if (out->works && p.python && !dev_shm_usable && s.python_hook == 0) {
    out->works = false;
    out->why.append("Python's multiprocessing.Value and Array call os.statvfs(\"/dev/shm\") "
                    "themselves and will fail; lambshm's multiprocessing hook is not loaded");
  }
}

// Whether two bindings share a line: the same user and the same provider
// (or both unresolved).
bool same_line(const Binding& a, const Binding& b) {
  return strcmp(a.user, b.user) == 0 &&
         ((a.provider == nullptr && b.provider == nullptr) ||
          (a.provider != nullptr && b.provider != nullptr && strcmp(a.provider, b.provider) == 0));
}

void print_scenario(const char* title, const ProgramReport& p, const Scenario& s, Str* report) {
  report->appendf("  %s:\n", title);
  if (!s.inspected) {
    report->appendf("    could not be inspected: %s\n", s.problem.c_str());
    return;
  }
  for (const char* nf : s.not_found) report->appendf("    %s: not found\n", nf);
  for (const char* lp : s.load_problems)
    report->appendf("    would not start: %s\n", lp);
  if (s.bindings.empty())
    report->append("    calls none of shm_open, shm_unlink, sem_open, sem_close, sem_unlink\n");
  // One line per (user, provider): "sem_open@GLIBC_2.2.5, ... (user) -> provider".
  // same_line is an equivalence, so a binding like any earlier one was printed with it.
  for (size_t i = 0; i < s.bindings.size(); ++i) {
    const Binding& first = s.bindings[i];
    bool seen = false;
    for (size_t d = 0; d < i && !seen; ++d) seen = same_line(s.bindings[d], first);
    if (seen) continue;
    Str symbols;
    for (size_t k = i; k < s.bindings.size(); ++k) {
      const Binding& b = s.bindings[k];
      if (same_line(b, first)) symbols.appendf("%s%s", symbols.empty() ? "" : ", ", b.symbol);
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

void json_or_null(const char* s, Str* out) {
  if (s == nullptr) {
    out->append("null");
  } else {
    json_string(s, out);
  }
}

// {"works": ..., "why": ..., "program": ..., "with_run": {...}: the verdict first.
void print_json_verdict(const char* program, const Judgement& now, const Judgement& with_run,
                        Str* out) {
  out->appendf("{\"works\": %s, \"why\": ", now.works ? "true" : "false");
  json_or_null(now.works ? nullptr : now.why.c_str(), out);
  out->append(", \"program\": ");
  json_or_null(program, out);
  out->appendf(",\n  \"with_run\": {\"works\": %s, \"why\": ", with_run.works ? "true" : "false");
  json_or_null(with_run.works ? nullptr : with_run.why.c_str(), out);
  out->append('}');
}

}  // namespace

int cmd_doctor(int argc, char** argv) {
  static const OptionSpec kOptions[] = {
      {"for", 0, true},   {"dir", 0, true},     {"lib-dir", 0, true},
      {"json", 0, false}, {"help", 'h', false}};
  enum { kFor, kDir, kLibDir, kJson, kHelpOption };
  bool json = false;
  const char* program = nullptr;
  const char* dir_option = nullptr;
  RunOptions run_options;
  Args args(argc, argv, kOptions, sizeof kOptions / sizeof kOptions[0]);
  for (int o; (o = args.next()) != Args::kDone;) {
    switch (o) {
      case kFor: program = args.value(); break;
      case kDir:
        if (!absolute_dir_option("--dir", args.value())) return kExitUsage;
        dir_option = args.value();
        break;
      case kLibDir:
        if (!absolute_dir_option("--lib-dir", args.value())) return kExitUsage;
        run_options.lib_dir = args.value();
        break;
      case kJson: json = true; break;
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
    stock_failure(stock, &report);
    report.append('\n');
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
    if (!prog.problem.empty()) {  // only that: the rest is not what was asked
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
        stock_failure(stock, &now.why);
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
        // Where the overlay would not start it, run takes the preload library
        // if that would (plan_run_for): what run would do is what is judged.
        RunOptions preload_options = run_options;
        preload_options.force_mechanism = true;
        preload_options.mechanism = Mechanism::kPreload;
        RunPlan preload;
        Str preload_why;
        if (!run_options.force_mechanism && plan.mechanism == Mechanism::kOverlay &&
            !prog.with_run.load_problems.empty() &&
            plan_run(preload_options, install, &preload, &preload_why)) {
          inspect_with(prog, planned_environment(preload), &prog.with_run_preload);
          prog.run_preload = prog.with_run_preload.load_problems.empty();
        }
        if (prog.run_preload) {
          print_scenario("so lambshm run would use the preload library instead", prog,
                         prog.with_run_preload, &report);
          judge(prog, prog.with_run_preload, stock, backing, dev_shm_usable, &with_run);
        } else {
          judge(prog, prog.with_run, stock, backing, dev_shm_usable, &with_run);
        }
      }
      if (!prog.now.inspected) {
        now.works = false;
        now.why.appendf("%s could not be inspected: %s", prog.path, prog.now.problem.c_str());
      }
      if (run_ok && !(prog.run_preload ? prog.with_run_preload : prog.with_run).inspected) {
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
        stock_failure(stock, &now.why);
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
  if (json) {
    Str out;
    print_json_verdict(program, now, with_run, &out);
    out.append(",\n  \"glibc\": ");
    json_string(glibc.text, &out);
    out.appendf(", \"mechanism\": \"%s\", \"active\": %s,\n", mechanism_name(mechanism),
                active ? "true" : "false");
    out.appendf("  \"stock\": {\"works\": %s, \"error\": ", stock.works ? "true" : "false");
    if (stock.works) {
      out.append("null");
    } else {
      Str e;
      errno_text(stock.error, &e);
      char* name = e.release();
      name[strcspn(name, " ")] = '\0';  // "ENOENT (Python: ...)": the name
      json_string(name, &out);
    }
    out.append(", \"dir\": ");
    json_or_null(stock.dir, &out);
    out.append("},\n  \"backing_dir\": {\"path\": ");
    json_string(dir.config.path, &out);
    out.appendf(", \"from\": \"%s\", \"works\": %s, \"why\": ", dir.source,
                backing.works ? "true" : "false");
    json_or_null(backing.works ? nullptr : backing.why.c_str(), &out);
    out.appendf("},\n  \"run\": {\"works\": %s, \"mechanism\": ", run_ok ? "true" : "false");
    json_or_null(run_ok ? mechanism_name(plan.mechanism) : nullptr, &out);
    out.append(", \"problem\": ");
    json_or_null(run_ok ? nullptr : run_problem.c_str(), &out);
    out.append("},\n  \"report\": [");
    // The text report, line by line: nothing the text says is lost.
    const char* p = report.c_str();
    for (bool first = true; *p != '\0'; first = false) {
      size_t n = strcspn(p, "\n");
      out.append(first ? "\n    " : ",\n    ");
      json_string(p, n, &out);
      p += n + (p[n] == '\n');
    }
    out.append("\n  ]\n}\n");
    if (!print(out)) return kExitFailure;
    return now.works ? kExitOk : kExitFailure;
  }
  if (!print(report)) return kExitFailure;
  return now.works ? kExitOk : kExitFailure;
}

}  // namespace lambshm::cli
