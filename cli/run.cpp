// lambshm run COMMAND...: run a command with lambshm active (see activate.h for
// how the mechanism is chosen and the pieces are found).
//
// The multiprocessing hook for Python: a .pth file only works from a site
// directory, and PYTHONUSERBASE would replace the user's own.  So `run` puts
// lambshm's python/run directory first in PYTHONPATH; it holds a
// sitecustomize.py that imports lambshm_mp_hook and then runs the
// sitecustomize it shadows, if there is one (the approach of ddtrace-run and
// opentelemetry-instrument).  Python started with -E or -I ignores PYTHONPATH
// and gets no hook; nothing else changes for it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "doctor.h"
#include "linux_syscall.h"
#include "objects.h"
#include "activate.h"

namespace lambshm::cli {

namespace {

constexpr char kHelp[] =
    "Usage: lambshm run [OPTION]... [--] COMMAND [ARG]...\n"
    "Run COMMAND with lambshm active: its POSIX shared memory and named\n"
    "semaphores live in the backing directory, whether or not /dev/shm works.\n"
    "\n"
    "  glibc before 2.34: lambshm's librt.so.1 and libpthread.so.0 are put first\n"
    "                     in LD_LIBRARY_PATH (overlay); if COMMAND needs a version\n"
    "                     of them the overlay lacks, liblambshm-preload.so instead\n"
    "  glibc 2.34 and on: liblambshm-preload.so is added to LD_PRELOAD (preload)\n"
    "  Python:            PYTHONPATH gets lambshm's sitecustomize, which loads the\n"
    "                     multiprocessing.Value/Array hook, then any sitecustomize\n"
    "                     it shadows\n"
    "\n"
    "  --dir DIR         the backing directory for COMMAND (sets LAMBSHM_DIR)\n"
    "  --mode MODE       overlay or preload, instead of choosing by glibc version\n"
    "  --lib-dir DIR     use the libraries in DIR, not those next to this program\n"
    "  --no-python-hook  leave PYTHONPATH alone\n"
    "  --print-env       print the settings as shell 'export' lines; run nothing.\n"
    "                    They may be for another machine (a Lambda function's\n"
    "                    configuration): only lambshm's own files are checked\n"
    "  --prefix DIR      with --print-env: name the files as they will be under\n"
    "                    DIR there (a Lambda layer: /opt), without this\n"
    "                    environment's values\n"
    "  --exec-wrapper    act as lambshm-exec-wrapper (AWS_LAMBDA_EXEC_WRAPPER):\n"
    "                    create the backing directory first, choose by glibc\n"
    "                    version alone, exit 125 without COMMAND, and with\n"
    "                    LAMBSHM_WRAPPER_DEBUG=1 print the settings\n"
    "  -h, --help        show this help\n"
    "\n"
    "COMMAND and its arguments are passed on untouched.  The dynamic linker\n"
    "ignores these variables for set-uid programs.\n"
    "\n"
    "Exit status: COMMAND's; 125 lambshm could not be activated; 126 COMMAND\n"
    "could not be run; 127 COMMAND was not found; 2 usage error.\n";

constexpr int kExitCannotActivate = 125;
constexpr int kExitCannotRun = 126;
constexpr int kExitNotFound = 127;

void shell_quote(const char* s, Str* out) {
  out->append('\'');
  for (; *s != '\0'; ++s) {
    if (*s == '\'') {
      out->append("'\\''");
    } else {
      out->append(*s);
    }
  }
  out->append('\'');
}

// The exec wrapper makes the backing directory before the runtime starts:
// a broken /tmp then fails Lambda's initialisation, with a message, rather
// than an invocation.  The directory is chosen, created, refused and marked
// by the libraries' own rules (core/backing_dir.h); its path, or null.
const char* make_backing_dir(const char* option) {
  DirChoice dir;
  choose_dir(option, &dir);
  if (dir.config.error != 0) {
    error("LAMBSHM_DIR must be an absolute path, not '%s'", dir.config.path);
    return nullptr;
  }
  struct stat st;
  const char* why = nullptr;
  int fd = open_backing_dir(dir.config.path, &st, &why);
  if (fd >= 0) {
    sys::close(fd);
    return xstrdup(dir.config.path);
  }
  if (sys::fstatat(AT_FDCWD, dir.config.path, &st, AT_SYMLINK_NOFOLLOW) != 0)
    error("cannot create the backing directory %s (is its parent writable?): %s",
          dir.config.path, why != nullptr ? why : strerror(-fd));
  else
    error("the backing directory %s is refused: %s", dir.config.path,
          why != nullptr ? why : strerror(-fd));
  return nullptr;
}

}  // namespace

int cmd_run(int argc, char** argv) {
  static const OptionSpec kOptions[] = {
      {"dir", 0, true},           {"mode", 0, true},       {"lib-dir", 0, true},
      {"no-python-hook", 0, false}, {"print-env", 0, false}, {"prefix", 0, true},
      {"exec-wrapper", 0, false}, {"help", 'h', false}};
  enum { kDir, kMode, kLibDir, kNoPythonHook, kPrintEnv, kPrefix, kExecWrapper, kHelpOption };
  RunOptions options;
  bool print_env = false;
  bool exec_wrapper = false;
  Args args(argc, argv, kOptions, sizeof kOptions / sizeof kOptions[0], /*stop_at_operand=*/true);
  for (int o; (o = args.next()) != Args::kDone;) {
    switch (o) {
      case kDir:
        if (!absolute_dir_option("--dir", args.value())) return kExitUsage;
        options.dir = args.value();
        break;
      case kMode:
        options.force_mechanism = true;
        if (strcmp(args.value(), "overlay") == 0) {
          options.mechanism = Mechanism::kOverlay;
        } else if (strcmp(args.value(), "preload") == 0) {
          options.mechanism = Mechanism::kPreload;
        } else {
          return usage_error("--mode is overlay or preload, not '%s'", args.value());
        }
        break;
      case kLibDir:
        if (!absolute_dir_option("--lib-dir", args.value())) return kExitUsage;
        options.lib_dir = args.value();
        break;
      case kNoPythonHook: options.python_hook = false; break;
      case kPrintEnv: print_env = true; break;
      case kPrefix:
        if (!absolute_dir_option("--prefix", args.value())) return kExitUsage;
        options.prefix = args.value();
        break;
      case kExecWrapper: exec_wrapper = true; break;
      case kHelpOption: fputs(kHelp, stdout); return kExitOk;
      default: return kExitUsage;
    }
  }
  const Vec<char*>& command = args.operands();
  if (exec_wrapper) {
    // Lambda reports 125 as an initialisation error, with these messages.
    set_program("lambshm-exec-wrapper");
    if (print_env || options.prefix != nullptr) return usage_error("--exec-wrapper runs a command");
    if (command.empty()) {
      error("no runtime to run (Lambda passes it as arguments; usage: "
            "lambshm-exec-wrapper RUNTIME [ARG]...)");
      return kExitCannotActivate;
    }
    options.dir = make_backing_dir(options.dir);
    if (options.dir == nullptr) return kExitCannotActivate;
    options.blanks_ok = true;
    // On every cold start: choose by glibc version alone, without the
    // ld.so --list of the runtime that checks the overlay would start it.
    if (!options.force_mechanism) {
      options.force_mechanism = true;
      options.mechanism = mechanism_for(running_glibc());
    }
  }
  if (command.empty() && !print_env) return usage_error("no command given");
  if (!command.empty() && print_env) return usage_error("--print-env runs no command");
  if (options.prefix != nullptr && !print_env) return usage_error("--prefix goes with --print-env");
  options.elsewhere = print_env;

  Install install;
  find_install(options.lib_dir, &install);
  RunPlan plan;
  Str why, note;
  if (!plan_run_for(options, install, command.empty() ? nullptr : command[0], &plan, &why,
                    &note)) {
    GlibcVersion glibc = running_glibc();
    error("cannot activate lambshm (%s, for glibc %s): %s", mechanism_name(plan.mechanism),
          glibc.text, why.c_str());
    return kExitCannotActivate;
  }
  if (!note.empty()) error("%s", note.c_str());  // a note: it goes on
  if (print_env) {
    Str out;
    for (const EnvSetting& s : plan.settings) {
      out.appendf("export %s=", s.name);
      shell_quote(s.value, &out);
      out.append('\n');
    }
    return print(out) ? kExitOk : kExitFailure;
  }
  for (const EnvSetting& s : plan.settings) {
    if (setenv(s.name, s.value, 1) != 0) {
      error("cannot set %s: %s", s.name, strerror(errno));
      return kExitCannotActivate;
    }
  }
  if (exec_wrapper) {
    const char* debug = getenv("LAMBSHM_WRAPPER_DEBUG");
    if (debug != nullptr && strcmp(debug, "1") == 0) {
      error("glibc %s, %s, LAMBSHM_DIR=%s", running_glibc().text, mechanism_name(plan.mechanism),
            options.dir);
      static const char* const kShown[] = {"LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH"};
      for (const char* name : kShown) {
        const char* value = getenv(name);
        error("%s=%s", name, value != nullptr ? value : "");
      }
    }
  }
  char** exec_argv = static_cast<char**>(xrealloc(nullptr, (command.size() + 1) * sizeof(char*)));
  for (size_t i = 0; i < command.size(); ++i) exec_argv[i] = command[i];
  exec_argv[command.size()] = nullptr;
  fflush(stdout);
  execvp(exec_argv[0], exec_argv);
  int e = errno;
  error("cannot run '%s': %s", exec_argv[0], strerror(e));
  return e == ENOENT || e == ENOTDIR ? kExitNotFound : kExitCannotRun;
}

}  // namespace lambshm::cli
