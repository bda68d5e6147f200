// lambshm doctor in three steps, run by cmd_doctor (doctor.cpp): gather the
// facts (doctor_gather.cpp, and doctor_program.cpp for --for), judge them
// (doctor_judge.cpp), and print facts and verdicts (doctor_print.cpp).  Only
// gathering looks at the system; judging and printing read the facts alone,
// so every verdict the report states follows from facts it also states.
#pragma once

#include <sys/stat.h>
#include <sys/utsname.h>

#include <cerrno>

#include "activate.h"
#include "objects.h"
#include "support.h"

namespace lambshm::cli {

// --- A program (doctor_program.cpp) -----------------------------------------------

// Where one named-object function (shm_open, shm_unlink, sem_open, sem_close,
// sem_unlink) that an object imports would be bound.
struct Binding {
  const char* symbol;    // "sem_open@GLIBC_2.2.5"
  const char* user;      // the importing object's file name
  const char* provider;  // the defining object's path; null: unresolved
  bool lambshm;          // the provider is one of lambshm's libraries
};

struct Scenario {
  bool inspected = false;  // the dynamic linker answered
  Str problem;             // why it could not be inspected
  Vec<Binding> bindings;
  Vec<const char*> not_found;  // libraries the dynamic linker could not find
  // Why the dynamic linker would refuse to start it, or fail to bind a
  // symbol, over a version of libpthread.so.0 or librt.so.1 (check_versions).
  Vec<const char*> load_problems;
  int python_hook = -1;        // Python: lambshm_mp_hook loaded at start-up (1), not (0), unknown (-1)
};

struct ProgramReport {
  const char* given;            // PROGRAM as given to --for
  const char* path = nullptr;   // the file inspected (a script's interpreter)
  const char* script = nullptr; // the script, when PROGRAM is one
  Str problem;                  // non-empty: it could not be inspected at all
  bool static_binary = false;
  bool setuid = false;
  bool python = false;
  Vec<const char*> modules;     // Python extension modules also inspected
  Scenario now;                 // in this environment
  Scenario with_run;            // under `lambshm run`
  // Under `lambshm run` when it would choose the preload library because the
  // overlay would not start the program (plan_run_for).
  bool run_preload = false;
  Scenario with_run_preload;
};

// Inspects `program` (searched in PATH when it has no '/').  `run_env` is the
// environment `lambshm run` would give it, or null when run cannot work here.
void inspect_program(const char* program, char** run_env, ProgramReport* out);

// For `lambshm run`: whether `program` (as for inspect_program) would start
// with `env`, as far as the versions of libpthread.so.0 and librt.so.1 go.
// False, with the first problem in `why`, only when one is certain; a
// program that cannot be inspected is not held back.
bool starts_with(const char* program, char** env, Str* why);

// Inspects an inspected program once more, with `env`, into `out`.
void inspect_with(const ProgramReport& program, char** env, Scenario* out);

// lambshm run's plan for `command`: plan_run's, except where the overlay was
// chosen by glibc version (not --mode) and would not start `command`: then
// the preload library, which works on glibc 2.26 to 2.33 too, if that
// would start it (`note` says why).  If neither would (nor, then, stock
// glibc), the overlay, with a note saying so.
bool plan_run_for(const RunOptions& options, const Install& install, const char* command,
                  RunPlan* out, Str* why, Str* note);

// --- Facts (doctor_gather.cpp) ------------------------------------------------------

// /dev/shm, as stat, statfs and access(2) see it.
struct DevShm {
  int stat_result = 0;       // 0 or -errno
  bool is_dir = false;
  mode_t mode = 0;
  bool have_fs = false;      // statfs answered
  unsigned long fs_type = 0;
  int writable = -ENOENT;    // 0 or -errno; -ENOENT unless a directory
};

// A filesystem's free space, read from statfs as glibc's statvfs reads it.
struct Space {
  bool known = false;        // statfs answered
  unsigned long fs_type = 0;
  uint64_t avail = 0;
  uint64_t total = 0;
  bool read_only = false;
};

// The backing directory, looked at by the libraries' rules without creating it.
struct BackingFacts {
  DirChoice dir;
  int opened = 0;                 // open_backing_dir: 0, -ENOENT (missing) or -errno (refused)
  const char* refused = nullptr;  // its reason for refusing, when it gives one
  // Missing: the parent it would be created in.
  const char* parent = nullptr;
  int parent_stat = 0;            // 0 or -errno
  int parent_writable = 0;        // 0 or -errno
  // Opened: fstat; refused: lstat, when have_stat.
  bool have_stat = false;
  struct stat st = {};
  Space space;                    // opened: the directory's; missing: its parent's
  int create = 0;                 // opened: an anonymous file could be created (0) or -errno
  // Opened: why it is not lambshm's (core/ownership.h: ls, rm and gc refuse
  // it), or null.
  const char* foreign = nullptr;
  bool listed = false;            // opened: its entries, by Kind
  size_t count[4] = {};
  uint64_t bytes = 0;
  // What an shm object is here (docs/design.md): a memfd held by the keeper,
  // or a plain file, and why; set once the libraries are known.
  const char* objects = nullptr;
};

// lambshm's libraries and the Python hook where find_install expects them.
struct Library {
  const char* what;
  const char* path;
  Mechanism mechanism;
  LibState state;
};
struct LibraryFacts {
  Library pieces[3];  // overlay librt.so.1, overlay libpthread.so.0, preload library
  const char* shim_missing_dependency = nullptr;  // the stock libpthread the shim loads
  Str hook;           // sitecustomize.py
  bool hook_present = false;
  bool keeper_present = false;  // install.keeper, executable
};

// Everything doctor reports and judges.
struct Facts {
  GlibcVersion glibc;
  Mechanism mechanism;
  bool have_uname = false;
  struct utsname uname;
  DevShm dev_shm;
  // The directory stock glibc's shm_open and sem_open use (null: none).
  const char* shm_dir = nullptr;
  int shm_dir_writable = 0;       // 0 or -errno
  BackingFacts backing;
  Install install;
  LibraryFacts libraries;
  bool active = false;            // this environment activates lambshm,
  Str active_how;                 // in these words
  RunOptions run_options;
  bool run_ok = false;            // lambshm run would work here,
  RunPlan plan;                   // with this plan,
  Str run_problem;                // or not, for this reason
  const char* program = nullptr;  // --for, or null
  ProgramReport prog;             // its inspection
};

// Fills `out`; false, with `out->prog.problem` saying why, when --for names
// a program that cannot be inspected at all.
bool gather(const char* program, const char* dir_option, const RunOptions& run_options,
            Facts* out);

// Whether this environment activates lambshm for ordinary programs, and how.
bool active_here(Mechanism m, Str* how);

// --- Verdicts (doctor_judge.cpp) ----------------------------------------------------

// What stock glibc's shm_open and sem_open will do here.
struct Stock {
  bool works = false;
  int error = 0;  // the errno they fail with
  Str why;
};

struct Backing {
  bool works = false;
  Str why;
};

// Whether shared memory works for a program (or for programs).
struct Judgement {
  bool works = true;
  bool uses = false;  // it calls any named-object function
  Str why;
};

struct Verdicts {
  Stock stock;
  Backing backing;
  Judgement now;       // as things stand
  Judgement with_run;  // under lambshm run
};

void judge(const Facts& facts, Verdicts* out);

// Why a missing backing directory cannot be created; false when it can.
bool creation_problem(const BackingFacts& b, Str* why);

// "ENOSYS"
const char* errno_name(int e);
// "ENOSYS (Python: OSError: [Errno 38] Function not implemented)"
void errno_text(int e, Str* out);
// How stock glibc fails: "ENOENT (Python: ...): <why>".
void stock_failure(const Stock& s, Str* out);

// --- The report (doctor_print.cpp) --------------------------------------------------

// The text report.
void print_report(const Facts& facts, const Verdicts& verdicts, Str* out);
// The JSON document, whose "report" is the text report's lines.
void print_json(const Facts& facts, const Verdicts& verdicts, const Str& report, Str* out);

}  // namespace lambshm::cli
