// Shared by the two halves of `lambshm doctor`: the system checks
// (doctor.cpp) and the inspection of one program (doctor_program.cpp).
#pragma once

#include "activate.h"
#include "objects.h"
#include "support.h"

namespace lambshm::cli {

// --- The system (doctor_checks.cpp) -------------------------------------------------

// What stock glibc's shm_open and sem_open will do here.
struct Stock {
  bool works = false;
  int error = 0;               // the errno they fail with
  const char* dir = nullptr;   // where they keep objects
  Str why;
};
// Reports on /dev/shm and works out `stock` for this glibc.
void check_dev_shm(const GlibcVersion& glibc, Str* report, Stock* stock);

struct Backing {
  bool works = false;
  Str why;
};
// Reports on the backing directory, by the libraries' rules, without creating it.
void check_backing(const DirChoice& dir, Str* report, Backing* out);

// Reports on lambshm's libraries and the Python hook.
void check_libraries(const Install& install, Mechanism m, Str* report);
// Whether this environment activates lambshm for ordinary programs, and how.
bool active_here(Mechanism m, Str* how);

// "ENOSYS (Python: OSError: [Errno 38] Function not implemented)"
void errno_text(int e, Str* out);

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

}  // namespace lambshm::cli
