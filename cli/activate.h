// Where lambshm's pieces are, and how `lambshm run` activates them.
//
// The pieces are found relative to this executable (/proc/self/exe), in one
// of two layouts:
//   release     BIN/../lib/{librt.so.1,libpthread.so.0,liblambshm-preload.so}
//               BIN/../python/
//   build tree  BIN/../librt/librt.so.1, BIN/../libpthread_shim/libpthread.so.0,
//               BIN/../preload/liblambshm-preload.so, BIN/../python/
// or in one directory named with --lib-dir.  A file only counts if it is one
// of lambshm's libraries: it must contain the string "LAMBSHM_DIR", the
// variable every lambshm library reads (so /usr/local/bin/lambshm never takes
// /usr/local/lib's unrelated librt for ours).
//
// Which mechanism: before glibc 2.34, shm_open lives in librt.so.1 and sem_*
// in libpthread.so.0, and lambshm replaces both ("overlay": its directory
// first in LD_LIBRARY_PATH).  From 2.34 they are in libc.so.6 itself, which
// cannot be replaced; lambshm's preload library interposes on them instead
// (LD_PRELOAD, appended to any existing value).
#pragma once

#include "support.h"

namespace lambshm::cli {

struct GlibcVersion {
  int major;
  int minor;
  const char* text;  // as glibc reports it, e.g. "2.31"
};

// The glibc this process runs on: the system's (gnu_get_libc_version).
GlibcVersion running_glibc();
// Since glibc 2.34, shm_* and sem_* are in libc.so.6.
bool shm_in_libc(const GlibcVersion& v);

enum class Mechanism { kOverlay, kPreload };
Mechanism mechanism_for(const GlibcVersion& v);
const char* mechanism_name(Mechanism m);

struct Install {
  const char* layout;       // "release", "build tree" or "--lib-dir"
  const char* librt;        // paths where each piece is expected
  const char* libpthread;
  const char* preload;
  const char* keeper;       // lambshm-keeper, which the libraries start
  const char* python_run;   // the directory holding sitecustomize.py
};

// Fills `out` (never fails: missing pieces are reported by check_library).
void find_install(const char* lib_dir_option, Install* out);

enum class LibState { kOk, kMissing, kNotLambshm, kUnreadable };
LibState check_library(const char* path);
const char* lib_state_text(LibState s);

// Whether a file is one of lambshm's libraries (see above).
bool is_lambshm_file(const char* path);

// An absolute DT_NEEDED of `library` that does not exist here (the shim's
// stock libpthread, /lib64/libpthread.so.0 unless built otherwise), or null.
const char* missing_absolute_dependency(const char* library);

// The environment `lambshm run` gives the command.
struct EnvSetting {
  const char* name;
  const char* value;
};
struct RunPlan {
  Mechanism mechanism;
  bool python_hook;       // PYTHONPATH carries the multiprocessing hook
  Vec<EnvSetting> settings;
};

struct RunOptions {
  const char* lib_dir = nullptr;  // --lib-dir
  const char* dir = nullptr;      // --dir: LAMBSHM_DIR for the command
  bool force_mechanism = false;   // --mode overlay|preload
  Mechanism mechanism = Mechanism::kOverlay;
  bool python_hook = true;        // --no-python-hook clears it
  // --print-env: the settings are for another environment (a Lambda
  // function's configuration), so nothing of this machine's but lambshm's
  // own files is checked; the stock libpthread the shim loads need not exist
  // here.
  bool elsewhere = false;
  // --prefix: where the shipped tree will be there (/opt for a layer); the
  // settings then name its files and are not combined with this
  // environment's values.
  const char* prefix = nullptr;
  // --exec-wrapper: paths with blanks are carried, as the wrapper always did
  // (LD_LIBRARY_PATH splits only on ':' and ';'; the preload library is then
  // named bare in LD_PRELOAD, which splits on blanks, and found through
  // LD_LIBRARY_PATH).  `run` itself refuses them.
  bool blanks_ok = false;
};

// Works out the plan for this system and environment; false, with the reason
// in `why`, when lambshm cannot be activated (a missing library, ...).
bool plan_run(const RunOptions& options, const Install& install, RunPlan* out, Str* why);

// A copy of the current environment with `plan` applied, for execve.
char** planned_environment(const RunPlan& plan);

}  // namespace lambshm::cli
