// What really runs when a program is a script: the kernel's "#!" rule as
// execve applies it (an interpreter may itself be a script, up to 4 deep),
// and env's own options and PATH lookup for "#!/usr/bin/env ...".  Used by
// doctor --for, which must never judge the wrong program: a script run by a
// shell (a pyenv shim, a launcher) runs programs no file names, so it says it
// cannot tell rather than judge the shell.
#pragma once

#include "support.h"

namespace lambshm::cli {

// `name` searched in `path_list` (null: $PATH, else glibc's default) as
// execvp would, or null.  A name with a '/' is returned as is.
char* find_in_path(const char* name, const char* path_list = nullptr);

struct ScriptRun {
  const char* script = nullptr;   // the outermost script, null when `path` is not one
  const char* program = nullptr;  // the ELF file that runs in the end
};

// Follows `path` through "#!" lines to the program that runs.  False, with
// why in `problem`, when that cannot be told for certain: env options or
// quoting it does not model, a script that would not run (its interpreter
// missing), or a shell in the chain (it runs programs of its own choosing).
bool resolve_script(const char* path, ScriptRun* out, Str* problem);

}  // namespace lambshm::cli
