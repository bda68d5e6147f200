#include "script.h"

#include <unistd.h>

#include <cerrno>
#include <climits>

#include "linux_syscall.h"
#include "unique_fd.h"

namespace lambshm::cli {

namespace {

// Linux: BINPRM_BUF_SIZE bytes of "#!" line; at most 4 nested interpreters.
constexpr size_t kLineMax = 256;
constexpr int kMaxDepth = 5;

const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

bool is_executable_file(const char* path) {
  struct stat st;
  return sys::fstatat(AT_FDCWD, path, &st, 0) == 0 && S_ISREG(st.st_mode) &&
         access(path, X_OK) == 0;
}

// Shells run whatever their script says: no file tells which program that is.
bool is_shell(const char* path) {
  static const char* const kShells[] = {"sh",  "bash", "dash", "ash", "ksh",  "mksh", "zsh",
                                        "yash", "posh", "fish", "csh", "tcsh", "busybox"};
  const char* name = base_name(path);
  for (const char* s : kShells)
    if (strcmp(name, s) == 0) return true;
  return false;
}

struct Shebang {
  char* interpreter;
  char* argument;  // the one optional argument (the rest of the line), or null
};

// 1: `path` is a script and `out` says how the kernel runs it; 0: it is not
// one; -1: it cannot be read.
int read_shebang(const char* path, Shebang* out) {
  UniqueFd fd(sys::openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) return -1;
  char line[kLineMax + 1];
  ssize_t n = pread(fd.get(), line, kLineMax, 0);
  if (n < 0) return -1;
  if (n < 2 || line[0] != '#' || line[1] != '!') return 0;
  line[n] = '\0';
  line[strcspn(line, "\n")] = '\0';
  char* p = line + 2;
  p += strspn(p, " \t");
  size_t length = strcspn(p, " \t");
  out->interpreter = xstrndup(p, length);
  p += length;
  p += strspn(p, " \t");
  size_t end = strlen(p);
  while (end > 0 && (p[end - 1] == ' ' || p[end - 1] == '\t')) --end;
  out->argument = end > 0 ? xstrndup(p, end) : nullptr;
  return 1;
}

// "#!/usr/bin/env ARG": what env runs, as coreutils' env would find it.
// False, with the reason, when it cannot be told or would not run.
bool env_program(const char* argument, char** program, Str* problem) {
  if (argument == nullptr) {
    problem->append("its '#!' line runs env with no program");
    return false;
  }
  Vec<char*> words;
  const char* split = nullptr;
  if (strncmp(argument, "-S", 2) == 0) split = argument + 2;
  else if (strncmp(argument, "--split-string=", 15) == 0) split = argument + 15;
  else if (strncmp(argument, "--split-string ", 15) == 0) split = argument + 15;
  if (split != nullptr) {
    // -S splits on blanks; quoting, escapes and ${VAR} are beyond this reader.
    if (strpbrk(split, "'\"\\$#") != nullptr) {
      problem->appendf("its '#!' line (env -S '%s') uses quoting or expansion lambshm does not "
                       "model", split);
      return false;
    }
    Str copy;
    copy.append(split);
    char* save = nullptr;
    for (char* w = strtok_r(copy.release(), " \t", &save); w != nullptr;
         w = strtok_r(nullptr, " \t", &save))
      words.push(w);
  } else {
    // Without -S the kernel passes the whole rest of the line as one word.
    words.push(xstrdup(argument));
  }
  const char* path_list = getenv("PATH");
  bool options_done = false;
  for (size_t i = 0; i < words.size(); ++i) {
    char* w = words[i];
    if (!options_done && w[0] == '-') {
      if (strcmp(w, "--") == 0) {
        options_done = true;
      } else if (strcmp(w, "-i") == 0 || strcmp(w, "--ignore-environment") == 0 ||
                 strcmp(w, "-") == 0) {
        path_list = nullptr;
      } else if (strcmp(w, "-u") == 0 && i + 1 < words.size()) {
        if (strcmp(words[++i], "PATH") == 0) path_list = nullptr;
      } else if (strcmp(w, "-0") == 0 || strcmp(w, "-v") == 0 || strcmp(w, "--debug") == 0) {
      } else {
        problem->appendf("its '#!' line gives env an option lambshm does not model ('%s')", w);
        return false;
      }
      continue;
    }
    if (strchr(w, '=') != nullptr) {
      if (strncmp(w, "PATH=", 5) == 0) path_list = w + 5;
      continue;
    }
    if (strpbrk(w, " \t") != nullptr) {
      problem->appendf("it would not run: its '#!' line makes env look for a program named "
                       "'%s' (more than one word needs 'env -S')", w);
      return false;
    }
    // glibc's execvp searches "/bin:/usr/bin" when PATH is unset.
    *program = find_in_path(w, path_list != nullptr ? path_list : "/bin:/usr/bin");
    if (*program == nullptr) {
      problem->appendf("it would not run: env finds no '%s' in %s", w,
                       path_list != nullptr ? "PATH" : "/bin:/usr/bin");
      return false;
    }
    return true;
  }
  problem->append("its '#!' line runs env with no program");
  return false;
}

}  // namespace

char* find_in_path(const char* name, const char* path_list) {
  if (strchr(name, '/') != nullptr) return xstrdup(name);
  const char* path = path_list != nullptr ? path_list : getenv("PATH");
  if (path == nullptr) path = "/bin:/usr/bin";
  for (const char* p = path;;) {
    size_t length = strcspn(p, ":");
    Str candidate;
    if (length == 0) {
      candidate.append(".");
    } else {
      candidate.append(p, length);
    }
    candidate.appendf("/%s", name);
    if (is_executable_file(candidate.c_str())) return candidate.release();
    if (p[length] == '\0') return nullptr;
    p += length + 1;
  }
}

bool resolve_script(const char* path, ScriptRun* out, Str* problem) {
  const char* current = path;
  for (int depth = 0;; ++depth) {
    Shebang sb{};
    int r = read_shebang(current, &sb);
    if (r < 0) {
      problem->appendf("%s: %s", current, strerror(errno));
      return false;
    }
    if (r == 0) break;
    if (out->script == nullptr) out->script = path;
    if (depth == kMaxDepth - 1) {
      problem->appendf("%s: a script whose interpreters nest more deeply than Linux runs", path);
      return false;
    }
    char* next = sb.interpreter;
    if (strcmp(base_name(sb.interpreter), "env") == 0) {
      Str why;
      if (!env_program(sb.argument, &next, &why)) {
        problem->appendf("%s: a script, and %s", path, why.c_str());
        return false;
      }
    }
    if (!is_executable_file(next)) {
      problem->appendf("%s: a script that would not run: its interpreter %s is %s", path, next,
                       access(next, F_OK) == 0 ? "not an executable file" : "missing");
      return false;
    }
    char real[PATH_MAX];
    if (is_shell(next) || (realpath(next, real) != nullptr && is_shell(real))) {
      problem->appendf("%s: a script run by the shell %s, which runs programs of its own "
                       "choosing (a pyenv shim, a launcher): lambshm cannot tell which.  Ask "
                       "about the program it runs, e.g. `lambshm doctor --for \"$(pyenv which "
                       "python3)\"`",
                       path, next);
      return false;
    }
    current = next;
  }
  out->program = current;
  return true;
}

}  // namespace lambshm::cli
