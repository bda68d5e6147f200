// lambshm doctor: will POSIX shared memory work here, and if not, why and
// what to do.  It looks, and never changes anything.
//
// It checks, in order: the glibc (which decides where shm_open/sem_open live
// and so how lambshm must be activated); /dev/shm and what stock glibc will
// do with it (glibc 2.26-2.33 looks for a tmpfs in the mount table and fails
// with ENOSYS when there is none; 2.34+ uses /dev/shm blindly, ENOENT when it
// is missing); the backing directory (the libraries' own rules, from
// core/backing_dir.h); lambshm's libraries and whether this environment
// already activates them; and with --for, a program (doctor_program.cpp).
// Each check is gathered, judged and printed in its own step (doctor.h).
//
// The exit status answers one question: will shared memory work as things
// stand (0) or not (1)?  `lambshm run lambshm doctor` answers it for run.
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

  Facts facts;
  if (!gather(program, dir_option, run_options, &facts)) {
    // Only that: the rest is not what was asked.
    error("cannot inspect %s", facts.prog.problem.c_str());
    return kExitUsage;
  }
  Verdicts verdicts;
  judge(facts, &verdicts);
  Str report;
  print_report(facts, verdicts, &report);
  if (json) {
    Str out;
    print_json(facts, verdicts, report, &out);
    if (!print(out)) return kExitFailure;
  } else if (!print(report)) {
    return kExitFailure;
  }
  return verdicts.now.works ? kExitOk : kExitFailure;
}

}  // namespace lambshm::cli
