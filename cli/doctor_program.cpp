// lambshm doctor --for PROGRAM: where would PROGRAM's shm_open and sem_open
// go, as things stand and under `lambshm run`?
//
// What the program loads is asked of the dynamic linker itself, the system's
// (this program's own interpreter), in list mode (`ld.so --list PROGRAM`,
// what ldd does), once with this environment and once with the environment
// `lambshm run` would give: that answer includes LD_LIBRARY_PATH, LD_PRELOAD,
// DT_RPATH/DT_RUNPATH and the ld.so cache exactly as they will apply.  The
// program's own code never runs (its PT_INTERP is not used either), with one
// exception: a Python interpreter is asked, with -c, whether lambshm's
// multiprocessing hook is loaded at start-up, which no symbol table can tell.
//
// Which object defines each imported name@version is then worked out from
// the symbol tables, in load order, as the dynamic linker binds it: the first
// object with a definition of that name at that version wins.  Python loads
// _multiprocessing and _posixshmem (the modules that call sem_open and
// shm_open) only when asked, so for a Python interpreter those modules are
// inspected too, each with the program's objects ahead of its own.
//
// Before any of that can matter the program has to start.  With the overlay,
// the objects named libpthread.so.0 and librt.so.1 are lambshm's, and the
// dynamic linker refuses to start a program if one of them lacks a version
// node an object of the load set needs from it; then it binds each name by
// version anywhere in the load set.  Both are checked for the whole load set,
// as the dynamic linker will (check_versions), for every scenario.
//
// Before glibc 2.30 the dynamic linker binds a name at a version less
// freely (bug 24741, fixed by f0b2132b35, "ld.so: Support moving versioned
// symbols between sonames"): it searches the load order only up to the
// object loaded under the file name the version is needed from, and fails
// there if that object lacks the name.  Under the overlay that object is
// lambshm's, so every libpthread.so.0 or librt.so.1 symbol@version the load
// set imports must be defined by lambshm's library itself (read from its
// dynamic symbol table).  Which rule applies is the running glibc's: the
// dynamic linker asked is the one this program runs with, and ld.so and
// libc.so.6 always come from one release.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <initializer_list>
#include <new>

#include <cerrno>
#include <climits>
#include <cstdio>

#include "doctor.h"
#include "elf_reader.h"
#include "linux_syscall.h"
#include "script.h"
#include "unique_fd.h"

extern char** environ;

namespace lambshm::cli {

namespace {

constexpr const char* kNamedFunctions[] = {"shm_open", "shm_unlink", "sem_open", "sem_close",
                                           "sem_unlink"};

bool is_named_function(const char* name) {
  for (const char* f : kNamedFunctions)
    if (strcmp(name, f) == 0) return true;
  return false;
}

// The libraries the overlay replaces, under the names objects need them by.
constexpr const char* kOverlaid[] = {"libpthread.so.0", "librt.so.1"};

bool is_overlaid(const char* file) {
  for (const char* f : kOverlaid)
    if (strcmp(file, f) == 0) return true;
  return false;
}

// What is kept of each object's symbols: the named-object functions, and
// everything at a glibc version (what the load set imports from the overlaid
// libraries, and what glibc's libraries define).
bool wanted_symbol(const DynSymbol& s) {
  return is_named_function(s.name) || (s.version != nullptr && strncmp(s.version, "GLIBC_", 6) == 0);
}

const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

// The system's dynamic linker: the one this program runs with.
const char* system_interpreter() {
  static const char* cached = nullptr;
  if (cached != nullptr) return cached;
  MappedFile self;
  ElfInfo info;
  if (self.open("/proc/self/exe") == 0 && read_elf(self, nullptr, &info) == ElfStatus::kOk &&
      info.interp != nullptr)
    return cached = xstrdup(info.interp);
#if defined(__x86_64__)
  return cached = "/lib64/ld-linux-x86-64.so.2";
#else
  return cached = "/lib/ld-linux-aarch64.so.1";
#endif
}

struct Loaded {
  const char* name;
  const char* path;  // null: not found
};

// Runs argv[0] with `env`, its standard output and error captured (the first
// MiB), killed by SIGALRM after `timeout` seconds; false if it could not run.
bool capture(const char* const* argv, char** env, unsigned timeout, Str* output, int* status,
             Str* problem) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    problem->appendf("pipe: %s", strerror(errno));
    return false;
  }
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    problem->appendf("fork: %s", strerror(errno));
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return false;
  }
  if (pid == 0) {
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    alarm(timeout);  // survives execve
    execve(argv[0], const_cast<char**>(argv), env);
    dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(pipe_fds[1]);
  char buf[4096];
  for (;;) {
    ssize_t n = read(pipe_fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (output->size() < (1u << 20)) output->append(buf, (size_t)n);
  }
  close(pipe_fds[0]);
  while (waitpid(pid, status, 0) < 0 && errno == EINTR) {
  }
  return true;
}

// Runs `ld.so --list target` with `env`; the objects it loads, in load order.
bool ld_list(const char* target, char** env, Vec<Loaded>* out, Str* problem) {
  const char* ldso = system_interpreter();
  const char* argv[] = {ldso, "--list", target, nullptr};
  Str text;
  int status = 0;
  if (!capture(argv, env, 30, &text, &status, problem)) return false;
  Str messages;
  const char* p = text.c_str();
  while (*p != '\0') {
    size_t length = strcspn(p, "\n");
    char* line = xstrndup(p, length);
    p += length;
    if (*p == '\n') ++p;
    char* s = line + strspn(line, " \t");
    if (*s == '\0') continue;
    char* arrow = strstr(s, " => ");
    char* addr = strstr(s, " (0x");
    if (arrow != nullptr) {
      *arrow = '\0';
      char* where = arrow + 4;
      if (strcmp(where, "not found") == 0) {
        out->push({s, nullptr});
      } else if (char* a = strstr(where, " (0x")) {
        *a = '\0';
        out->push({s, where});
      }
    } else if (addr != nullptr && s[0] == '/') {
      *addr = '\0';
      out->push({s, s});
    } else if (addr == nullptr) {
      messages.appendf("%s%s", messages.empty() ? "" : "; ", s);
    }
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    problem->appendf("%s --list %s failed%s%s", ldso, target, messages.empty() ? "" : ": ",
                     messages.c_str());
    return false;
  }
  return true;
}

// A program or library, read once.
struct ObjectFile {
  const char* path;
  MappedFile file;
  ElfInfo info;
  int open_result;   // 0 or -errno
  ElfStatus status;  // kDamaged when it could not be opened
  bool ok;
  bool lambshm;
};

ObjectFile* object_file(const char* path) {
  // On the heap: a static with a destructor would need the C++ runtime's atexit.
  static Vec<ObjectFile*>* cache = nullptr;
  if (cache == nullptr) cache = new (xrealloc(nullptr, sizeof(Vec<ObjectFile*>))) Vec<ObjectFile*>();
  for (ObjectFile* o : *cache)
    if (strcmp(o->path, path) == 0) return o;
  auto* o = new (xrealloc(nullptr, sizeof(ObjectFile))) ObjectFile{};
  o->path = xstrdup(path);
  o->open_result = o->file.open(path);
  o->status = o->open_result == 0 ? read_elf(o->file, wanted_symbol, &o->info)
                                  : ElfStatus::kDamaged;
  o->ok = o->status == ElfStatus::kOk;
  o->lambshm = o->ok && o->file.contains("LAMBSHM_DIR");
  cache->push(o);
  return o;
}

bool defines(const ObjectFile& o, const DynSymbol& ref) {
  for (const DynSymbol& s : o.info.symbols) {
    if (!s.defined || strcmp(s.name, ref.name) != 0) continue;
    if (ref.version == nullptr ? !s.hidden
                               : s.version == nullptr || strcmp(s.version, ref.version) == 0)
      return true;
  }
  return false;
}

// Binds the named-object imports of `users` against `scope`, in order.
void bind(const Vec<const char*>& users, const Vec<const char*>& scope, Scenario* out) {
  for (const char* user_path : users) {
    ObjectFile* user = object_file(user_path);
    if (!user->ok) continue;
    // In the order of kNamedFunctions: sem_open is named before sem_close.
    for (const char* function : kNamedFunctions) {
      for (const DynSymbol& ref : user->info.symbols) {
        if (ref.defined || strcmp(ref.name, function) != 0) continue;
        Binding b{nullptr, xstrdup(base_name(user_path)), nullptr, false};
        Str symbol;
        symbol.appendf("%s%s%s", ref.name, ref.version ? "@" : "",
                       ref.version ? ref.version : "");
        b.symbol = symbol.release();
        for (const char* candidate : scope) {
          ObjectFile* o = object_file(candidate);
          if (o->ok && defines(*o, ref)) {
            b.provider = o->path;
            b.lambshm = o->lambshm;
            break;
          }
        }
        out->bindings.push(b);
      }
    }
  }
}

void push_unique(Vec<const char*>* list, const char* path) {
  for (const char* p : *list)
    if (strcmp(p, path) == 0) return;
  list->push(path);
}

bool defines_version(const ObjectFile& o, const char* version) {
  for (const char* v : o.info.version_defs)
    if (strcmp(v, version) == 0) return true;
  return false;
}

// Whether the dynamic linker searches for a versioned name only up to the
// object loaded under the name its version is needed from: before 2.30.
bool ldso_stops_at_needed_file() {
  GlibcVersion v = running_glibc();
  return v.major == 2 && v.minor < 30;
}

bool defined_in_scope(const Vec<const char*>& scope, const DynSymbol& ref) {
  for (const char* candidate : scope) {
    ObjectFile* o = object_file(candidate);
    if (o->ok && defines(*o, ref)) return true;
  }
  return false;
}

// The object the dynamic linker loaded for the name `file` (the first one).
const char* loaded_as(const Vec<Loaded>& loaded, const char* file) {
  for (const Loaded& l : loaded)
    if (l.path != nullptr && strcmp(l.name, file) == 0) return l.path;
  return nullptr;
}

// As the dynamic linker checks before the program runs: each version node
// `users` need from libpthread.so.0 or librt.so.1 is defined by the object
// loaded under that name (else "version `GLIBC_2.30' not found"), and each
// name imported at such a node is defined at that version by an object of
// `scope` (else "symbol lookup error", at start-up or at the first call: a
// newer node in the shim than in an older stock libpthread behind it).
// Before glibc 2.30 the search for such a name stops at the object loaded
// under the file name (see the top of this file).  Weak needs and weak
// references are not insisted on, so neither are they here.
void check_versions(const Vec<const char*>& users, const Vec<Loaded>& loaded,
                    const Vec<const char*>& scope, Scenario* out) {
  auto problem = [&](Str* text) {
    for (const char* p : out->load_problems)
      if (strcmp(p, text->c_str()) == 0) return;
    out->load_problems.push(text->release());
  };
  for (const char* user_path : users) {
    ObjectFile* user = object_file(user_path);
    if (!user->ok) continue;
    for (const VersionNeed& need : user->info.version_needs) {
      if (need.weak || !is_overlaid(need.file)) continue;
      const char* path = loaded_as(loaded, need.file);
      if (path == nullptr) continue;  // not found: reported as such
      ObjectFile* provider = object_file(path);
      if (!provider->ok || defines_version(*provider, need.version)) continue;
      Str text;
      text.appendf("%s needs version %s of %s, which %s does not define", base_name(user_path),
                   need.version, need.file, path);
      problem(&text);
    }
    for (const DynSymbol& ref : user->info.symbols) {
      if (ref.defined || ref.weak || ref.file == nullptr || !is_overlaid(ref.file)) continue;
      const char* stop = ldso_stops_at_needed_file() ? loaded_as(loaded, ref.file) : nullptr;
      const char* found = nullptr;
      for (const char* candidate : scope) {
        ObjectFile* o = object_file(candidate);
        if (o->ok && defines(*o, ref)) {
          found = candidate;
          break;
        }
        if (stop != nullptr && strcmp(candidate, stop) == 0) break;
      }
      if (found != nullptr) continue;
      Str text;
      if (stop != nullptr && defined_in_scope(scope, ref))
        text.appendf("%s needs %s@%s from %s, and this dynamic linker (glibc %s, before 2.30: "
                     "bug 24741) looks for it only up to %s, which does not define it",
                     base_name(user_path), ref.name, ref.version, ref.file, running_glibc().text,
                     stop);
      else
        text.appendf("%s needs %s@%s (from %s), which nothing it loads defines",
                     base_name(user_path), ref.name, ref.version, ref.file);
      problem(&text);
    }
  }
}

void inspect_scenario(const char* program, bool python, const Vec<const char*>& modules,
                      char** env, Scenario* out) {
  Vec<Loaded> loaded;
  if (!ld_list(program, env, &loaded, &out->problem)) return;
  Vec<const char*> scope;
  scope.push(program);
  for (const Loaded& l : loaded) {
    if (l.path == nullptr) {
      out->not_found.push(l.name);
    } else {
      push_unique(&scope, l.path);
    }
  }
  bind(scope, scope, out);
  check_versions(scope, loaded, scope, out);
  if (python) {
    // Whether the hook is loaded at start-up is the interpreter's to say.
    const char* argv[] = {program, "-c", "import sys; print('lambshm_mp_hook' in sys.modules)",
                          nullptr};
    Str text, problem;
    int status = 0;
    if (capture(argv, env, 30, &text, &status, &problem) && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0) {
      out->python_hook = strcmp(text.c_str(), "True\n") == 0   ? 1
                         : strcmp(text.c_str(), "False\n") == 0 ? 0
                                                                 : -1;
    }
  }
  for (const char* module : modules) {
    Vec<Loaded> own;
    Str problem;
    if (!ld_list(module, env, &own, &problem)) {
      out->problem.appendf("%s%s", out->problem.empty() ? "" : "; ", problem.c_str());
      continue;
    }
    // A module dlopen'ed later sees the program's objects first, then its own.
    Vec<const char*> module_scope;
    for (const char* p : scope) module_scope.push(p);
    push_unique(&module_scope, module);
    for (const Loaded& l : own) {
      if (l.path != nullptr) push_unique(&module_scope, l.path);
      else out->not_found.push(l.name);
    }
    Vec<const char*> users;
    users.push(module);
    bind(users, module_scope, out);
    // Its own libraries join the program's (already loaded ones answer first).
    Vec<Loaded> all;
    for (const Loaded& l : loaded) all.push(l);
    for (const Loaded& l : own) all.push(l);
    Vec<const char*> module_users;
    module_users.push(module);
    for (const Loaded& l : own)
      if (l.path != nullptr) push_unique(&module_users, l.path);
    check_versions(module_users, all, module_scope, out);
  }
  out->inspected = true;
}

// Python's extension modules that call sem_open and shm_open.
void find_python_modules(const char* real_path, Vec<const char*>* out) {
  const char* name = base_name(real_path);
  char version[16] = "";
  if (strncmp(name, "python", 6) == 0 && name[6] != '\0') {
    size_t n = strspn(name + 6, "0123456789.");
    if (n < sizeof version) {
      memcpy(version, name + 6, n);
      version[n] = '\0';
    }
  }
  // PREFIX/bin/pythonX.Y -> PREFIX/lib{,64}/pythonX.Y/lib-dynload
  char* prefix = xstrdup(real_path);
  for (int i = 0; i < 2; ++i) {
    char* slash = strrchr(prefix, '/');
    if (slash == nullptr) return;
    *slash = '\0';
  }
  for (const char* lib : {"lib", "lib64"}) {
    Str dir;
    dir.appendf("%s/%s", prefix, lib);
    UniqueFd lib_fd(sys::openat(AT_FDCWD, dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!lib_fd.valid()) continue;
    // pythonX.Y when the name says it, else the pythonX.Y directories there.
    Vec<char*> candidates;
    if (strchr(version, '.') != nullptr) {
      Str c;
      c.appendf("python%s", version);
      candidates.push(c.release());
    } else {
      DIR* d = fdopendir(sys::openat(lib_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (d == nullptr) continue;
      while (struct dirent* e = readdir(d)) {
        if (strncmp(e->d_name, "python", 6) == 0 && strchr(e->d_name, '.') != nullptr &&
            strspn(e->d_name + 6, "0123456789.") == strlen(e->d_name + 6))
          candidates.push(xstrdup(e->d_name));
      }
      closedir(d);
    }
    for (char* c : candidates) {
      Str dynload;
      dynload.appendf("%s/%s/lib-dynload", dir.c_str(), c);
      DIR* d = opendir(dynload.c_str());
      if (d == nullptr) continue;
      while (struct dirent* e = readdir(d)) {
        size_t n = strlen(e->d_name);
        bool wanted = strncmp(e->d_name, "_multiprocessing.", 17) == 0 ||
                      strncmp(e->d_name, "_posixshmem.", 12) == 0;
        if (wanted && n > 3 && strcmp(e->d_name + n - 3, ".so") == 0) {
          Str module;
          module.appendf("%s/%s", dynload.c_str(), e->d_name);
          out->push(module.release());
        }
      }
      closedir(d);
    }
    if (!out->empty()) return;
  }
}

}  // namespace

void inspect_program(const char* program, char** run_env, ProgramReport* out) {
  out->given = program;
  const char* path = find_in_path(program);
  if (path == nullptr) {
    out->problem.appendf("%s: not found in PATH", program);
    return;
  }
  ScriptRun run;
  if (!resolve_script(path, &run, &out->problem)) return;
  out->script = run.script;
  path = run.program;
  char resolved[PATH_MAX];
  if (realpath(path, resolved) == nullptr) {
    out->problem.appendf("%s: %s", path, strerror(errno));
    return;
  }
  out->path = xstrdup(resolved);
  struct stat st;
  if (sys::fstatat(AT_FDCWD, out->path, &st, 0) == 0)
    out->setuid = (st.st_mode & (S_ISUID | S_ISGID)) != 0;

  ObjectFile* main = object_file(out->path);
  if (!main->ok) {
    // A file that fails only in its symbol tables is damaged too.
    ElfStatus s = main->status;
    out->problem.appendf("%s: %s", out->path,
                         main->open_result < 0 ? strerror(-main->open_result)
                         : s == ElfStatus::kNotElf ? "not an ELF program"
                         : s == ElfStatus::kOtherMachine
                             ? "built for another machine or word size"
                             : "a damaged ELF file");
    return;
  }
  // Static, or static-pie (a dynamic section for relocating itself, but no
  // interpreter and no libraries).
  if (!main->info.dynamic || (main->info.interp == nullptr && main->info.needed.empty())) {
    out->static_binary = true;
    return;
  }
  // By the file that runs: a wrapper script named python3 (pyenv's) is not one.
  out->python = strncmp(base_name(out->path), "python", 6) == 0;
  if (out->python) find_python_modules(out->path, &out->modules);

  inspect_scenario(out->path, out->python, out->modules, environ, &out->now);
  if (run_env != nullptr)
    inspect_scenario(out->path, out->python, out->modules, run_env, &out->with_run);
}

}  // namespace lambshm::cli

namespace lambshm::cli {

void inspect_with(const ProgramReport& p, char** env, Scenario* out) {
  inspect_scenario(p.path, p.python, p.modules, env, out);
}

bool starts_with(const char* program, char** env, Str* why) {
  const char* path = find_in_path(program);
  if (path == nullptr) return true;
  // A script: judge the program it runs; when that cannot be told, say nothing.
  ScriptRun run;
  Str problem;
  if (!resolve_script(path, &run, &problem)) return true;
  if (run.program != nullptr) path = run.program;
  char resolved[PATH_MAX];
  if (realpath(path, resolved) == nullptr) return true;
  ObjectFile* main = object_file(resolved);
  if (!main->ok || !main->info.dynamic || (main->info.interp == nullptr && main->info.needed.empty()))
    return true;
  Vec<const char*> modules;
  bool python = strncmp(base_name(resolved), "python", 6) == 0;
  if (python) find_python_modules(resolved, &modules);
  Scenario s;
  inspect_scenario(resolved, /*python=*/false, modules, env, &s);
  if (s.load_problems.empty()) return true;
  why->append(s.load_problems[0]);
  return false;
}

}  // namespace lambshm::cli

namespace lambshm::cli {

bool plan_run_for(const RunOptions& options, const Install& install, const char* command,
                  RunPlan* out, Str* why, Str* note) {
  if (!plan_run(options, install, out, why)) return false;
  if (options.force_mechanism || out->mechanism != Mechanism::kOverlay || command == nullptr)
    return true;
  Str problem;
  if (starts_with(command, planned_environment(*out), &problem)) return true;
  RunOptions preload_options = options;
  preload_options.force_mechanism = true;
  preload_options.mechanism = Mechanism::kPreload;
  RunPlan preload;
  Str preload_why;
  if (!plan_run(preload_options, install, &preload, &preload_why)) {
    why->appendf("the overlay would not start %s (%s), and the preload library cannot be used: %s",
                 command, problem.c_str(), preload_why.c_str());
    return false;
  }
  Str preload_problem;
  if (!starts_with(command, planned_environment(preload), &preload_problem)) {
    // Nor would stock glibc, then: its failure is the program's, and the
    // dynamic linker's own message says it best.
    note->appendf("%s would not start with the overlay (%s) nor with the preload library; "
                  "running it with the overlay anyway", command, problem.c_str());
    return true;
  }
  *out = static_cast<RunPlan&&>(preload);
  note->appendf("the overlay would not start %s (%s); using the preload library instead", command,
                problem.c_str());
  return true;
}

}  // namespace lambshm::cli
