#include "activate.h"

#include <gnu/libc-version.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>

#include "elf_reader.h"
#include "linux_syscall.h"

extern char** environ;

namespace lambshm::cli {

GlibcVersion running_glibc() {
  const char* text = gnu_get_libc_version();
  GlibcVersion v{0, 0, text};
  if (sscanf(text, "%d.%d", &v.major, &v.minor) < 1) v.major = v.minor = 0;
  return v;
}

bool shm_in_libc(const GlibcVersion& v) { return v.major > 2 || (v.major == 2 && v.minor >= 34); }

Mechanism mechanism_for(const GlibcVersion& v) {
  return shm_in_libc(v) ? Mechanism::kPreload : Mechanism::kOverlay;
}

const char* mechanism_name(Mechanism m) {
  return m == Mechanism::kOverlay ? "overlay" : "preload";
}

namespace {

constexpr char kRtName[] = "librt.so.1";
constexpr char kPthreadName[] = "libpthread.so.0";
constexpr char kPreloadName[] = "liblambshm-preload.so";

bool exists(const char* path) {
  struct stat st;
  return sys::fstatat(AT_FDCWD, path, &st, 0) == 0;
}

char* join(const char* dir, const char* name) {
  Str s;
  s.append(dir);
  if (s.empty() || s.c_str()[s.size() - 1] != '/') s.append('/');
  s.append(name);
  return s.release();
}

// The directory of this executable, or null if /proc is not mounted.
char* exe_dir() {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return nullptr;
  path[n] = '\0';
  char* slash = strrchr(path, '/');
  if (slash == nullptr) return nullptr;
  *slash = '\0';
  return xstrdup(path[0] != '\0' ? path : "/");
}

}  // namespace

void find_install(const char* lib_dir_option, Install* out) {
  char* bin = exe_dir();
  char* parent = join(bin != nullptr ? bin : ".", "..");
  char resolved[PATH_MAX];
  if (realpath(parent, resolved) != nullptr) parent = xstrdup(resolved);
  out->python_run = join(parent, "python/run");
  if (lib_dir_option != nullptr) {
    // A release's lib/ (overlay libraries in lib/overlay/) or one flat directory.
    char* overlay = join(lib_dir_option, "overlay");
    if (!exists(overlay)) overlay = xstrdup(lib_dir_option);
    out->layout = "--lib-dir";
    out->librt = join(overlay, kRtName);
    out->libpthread = join(overlay, kPthreadName);
    out->preload = join(lib_dir_option, kPreloadName);
    out->keeper = join(lib_dir_option, "lambshm-keeper");
    return;
  }
  char* lib = join(parent, "lib");
  char* build_rt = join(parent, "librt/librt.so.1");
  if (!exists(lib) && exists(build_rt)) {
    out->layout = "build tree";
    out->librt = build_rt;
    out->libpthread = join(parent, "libpthread_shim/libpthread.so.0");
    out->preload = join(parent, "preload/liblambshm-preload.so");
    out->keeper = join(parent, "keeper/lambshm-keeper");
    return;
  }
  // A release or a layer: the overlay libraries live in lib/overlay/, off the
  // default search path (/opt/lib is on Lambda's), the preload library in lib/.
  char* overlay = join(lib, "overlay");
  out->layout = "release";
  out->librt = join(overlay, kRtName);
  out->libpthread = join(overlay, kPthreadName);
  out->preload = join(lib, kPreloadName);
  out->keeper = join(lib, "lambshm-keeper");
}

bool is_lambshm_file(const char* path) {
  MappedFile f;
  return f.open(path) == 0 && f.contains("LAMBSHM_DIR");
}

LibState check_library(const char* path) {
  MappedFile f;
  int r = f.open(path);
  if (r == -ENOENT || r == -ENOTDIR) return LibState::kMissing;
  if (r < 0) return LibState::kUnreadable;
  return f.contains("LAMBSHM_DIR") ? LibState::kOk : LibState::kNotLambshm;
}

const char* lib_state_text(LibState s) {
  switch (s) {
    case LibState::kOk: return "present";
    case LibState::kMissing: return "missing";
    case LibState::kNotLambshm: return "not a lambshm library";
    case LibState::kUnreadable: return "unreadable";
  }
  return "?";
}

const char* missing_absolute_dependency(const char* library) {
  MappedFile f;
  if (f.open(library) < 0) return nullptr;
  ElfInfo info;
  if (read_elf(f, nullptr, &info) != ElfStatus::kOk) return nullptr;
  for (const char* n : info.needed)
    if (n[0] == '/' && !exists(n)) return xstrdup(n);
  return nullptr;
}

namespace {

char* dir_of(const char* path) {
  const char* slash = strrchr(path, '/');
  if (slash == nullptr) return xstrdup(".");
  if (slash == path) return xstrdup("/");
  return xstrndup(path, (size_t)(slash - path));
}

// The dynamic linker splits these lists on ':' (and ';' or ' ') and expands
// $ORIGIN-style tokens: a path with any of those cannot be named in them.
// With `blanks_ok` (the exec wrapper) blanks are carried: LD_LIBRARY_PATH
// splits only on ':' and ';', and plan_run names the preload library bare.
bool listable(const char* path, Str* why, bool blanks_ok = false) {
  if (strpbrk(path, blanks_ok ? ":;\n$" : ":; \t\n$") == nullptr) return true;
  why->appendf("%s contains a character (':', ';', a space or '$') that LD_LIBRARY_PATH, "
               "LD_PRELOAD and PYTHONPATH cannot carry; move lambshm to another directory",
               path);
  return false;
}

// Whether the list `list`, split on any of `separators`, has `entry`.
bool list_has(const char* list, const char* entry, const char* separators) {
  size_t n = strlen(entry);
  for (const char* p = list; p != nullptr && *p != '\0';) {
    size_t length = strcspn(p, separators);
    if (length == n && memcmp(p, entry, n) == 0) return true;
    p += length;
    if (*p != '\0') ++p;
  }
  return false;
}

// `prefix` + ':' + old, unless old already starts with `prefix`.
const char* prepend(const char* prefix, const char* old) {
  if (old == nullptr || *old == '\0') return xstrdup(prefix);
  size_t n = strlen(prefix);
  if (strncmp(old, prefix, n) == 0 && (old[n] == '\0' || old[n] == ':')) return old;
  Str s;
  s.appendf("%s:%s", prefix, old);
  return s.release();
}

bool check_usable(const char* what, const char* path, Str* why, bool blanks_ok) {
  LibState state = check_library(path);
  if (state == LibState::kOk) return listable(path, why, blanks_ok);
  why->appendf("the %s library %s is %s", what, path, lib_state_text(state));
  return false;
}

}  // namespace

bool plan_run(const RunOptions& options, const Install& install, RunPlan* out, Str* why) {
  // With --prefix, the names the settings give the pieces (the overlay's
  // directory for librt), and no value of this environment to build on.
  struct {
    const char* librt = nullptr;
    const char* preload = nullptr;
    const char* python_run = nullptr;
  } target;
  if (options.prefix != nullptr) {
    target.librt = join(options.prefix, "lib/overlay");
    target.preload = join(options.prefix, "lib/liblambshm-preload.so");
    target.python_run = join(options.prefix, "python/run");
    if (!listable(options.prefix, why, options.blanks_ok)) return false;
  }
  auto base = [&](const char* name) -> const char* {
    return options.prefix != nullptr ? nullptr : getenv(name);
  };
  GlibcVersion glibc = running_glibc();
  out->mechanism = options.force_mechanism ? options.mechanism : mechanism_for(glibc);
  out->python_hook = false;
  if (out->mechanism == Mechanism::kOverlay) {
    if (!check_usable("overlay", install.librt, why, options.blanks_ok) ||
        !check_usable("overlay", install.libpthread, why, options.blanks_ok))
      return false;
    const char* missing =
        options.elsewhere ? nullptr : missing_absolute_dependency(install.libpthread);
    if (missing != nullptr) {
      why->appendf("%s loads the stock libpthread from %s, which does not exist here "
                   "(build lambshm with -Dstock_libpthread=PATH for this system)",
                   install.libpthread, missing);
      return false;
    }
    // One directory in a release, two in a build tree.
    char* rt_dir = dir_of(install.librt);
    char* pthread_dir = dir_of(install.libpthread);
    Str dirs;
    if (target.librt != nullptr) {
      dirs.append(target.librt);
    } else {
      dirs.append(rt_dir);
      if (strcmp(rt_dir, pthread_dir) != 0) dirs.appendf(":%s", pthread_dir);
    }
    out->settings.push({"LD_LIBRARY_PATH", prepend(dirs.c_str(), base("LD_LIBRARY_PATH"))});
  } else {
    if (!check_usable("preload", install.preload, why, options.blanks_ok)) return false;
    const char* old = base("LD_PRELOAD");
    const char* value = target.preload != nullptr ? target.preload : install.preload;
    if (strpbrk(value, " \t") != nullptr) {
      // LD_PRELOAD splits on blanks too: name the library bare, and let the
      // dynamic linker find it through LD_LIBRARY_PATH.
      out->settings.push({"LD_LIBRARY_PATH", prepend(dir_of(value), base("LD_LIBRARY_PATH"))});
      value = kPreloadName;
    }
    if (old != nullptr && *old != '\0') {
      if (list_has(old, value, ": \t")) {
        value = old;
      } else {
        Str s;
        s.appendf("%s:%s", old, value);
        value = s.release();
      }
    }
    out->settings.push({"LD_PRELOAD", value});
  }
  if (options.python_hook) {
    char* hook = join(install.python_run, "sitecustomize.py");
    if (exists(hook) && listable(install.python_run, why, options.blanks_ok)) {
      const char* run_dir = target.python_run != nullptr ? target.python_run : install.python_run;
      out->settings.push({"PYTHONPATH", prepend(run_dir, base("PYTHONPATH"))});
      out->python_hook = true;
    }
    why->clear();  // a missing hook only costs multiprocessing.Value/Array on /dev/shm-less hosts
  }
  if (options.dir != nullptr) out->settings.push({"LAMBSHM_DIR", options.dir});
  return true;
}

char** planned_environment(const RunPlan& plan) {
  Vec<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    bool replaced = false;
    for (const EnvSetting& s : plan.settings) {
      size_t n = strlen(s.name);
      if (strncmp(*e, s.name, n) == 0 && (*e)[n] == '=') replaced = true;
    }
    if (!replaced) env.push(*e);
  }
  for (const EnvSetting& s : plan.settings) {
    Str entry;
    entry.appendf("%s=%s", s.name, s.value);
    env.push(entry.release());
  }
  char** out = static_cast<char**>(xrealloc(nullptr, (env.size() + 1) * sizeof(char*)));
  for (size_t i = 0; i < env.size(); ++i) out[i] = env[i];
  out[env.size()] = nullptr;
  return out;
}

}  // namespace lambshm::cli
