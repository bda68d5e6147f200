// Shared by the two halves of `lambshm doctor`: the system checks
// (doctor.cpp) and the inspection of one program (doctor_program.cpp).
#pragma once

#include "install.h"
#include "support.h"

namespace lambshm::cli {

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
};

// Inspects `program` (searched in PATH when it has no '/').  `run_env` is the
// environment `lambshm run` would give it, or null when run cannot work here.
void inspect_program(const char* program, char** run_env, ProgramReport* out);

}  // namespace lambshm::cli
