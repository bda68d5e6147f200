// lambshm: run programs with lambshm, check a system, and look after the
// backing directory.  One file per subcommand; this one dispatches.
#include <cstdio>
#include <cstring>

#include "commands.h"
#include "support.h"

#ifndef LAMBSHM_VERSION
#error "LAMBSHM_VERSION must be defined by the build"
#endif

namespace lambshm::cli {
namespace {

constexpr char kHelp[] =
    "Usage: lambshm COMMAND [ARG]...\n"
    "POSIX shared memory and named semaphores where /dev/shm is missing (AWS\n"
    "Lambda): lambshm keeps them in a backing directory ($LAMBSHM_DIR, default\n"
    "/tmp/shm).\n"
    "\n"
    "Commands:\n"
    "  run [--] CMD [ARG]...      run CMD with lambshm active\n"
    "  doctor [--for PROGRAM]     say whether shared memory works here, and why\n"
    "  ls [--json]                list the objects in the backing directory\n"
    "  rm NAME...                 remove objects\n"
    "  gc --older-than DURATION   remove objects nobody has used for DURATION\n"
    "\n"
    "  -h, --help     show this help ('lambshm COMMAND --help' for a command's)\n"
    "  -V, --version  show the version\n";

struct Command {
  const char* name;
  int (*run)(int, char**);
};
constexpr Command kCommands[] = {
    {"run", cmd_run}, {"doctor", cmd_doctor}, {"ls", cmd_ls}, {"rm", cmd_rm}, {"gc", cmd_gc},
};

}  // namespace
}  // namespace lambshm::cli

int main(int argc, char** argv, char**) {
  using namespace lambshm::cli;
  if (argc < 2) {
    fputs(kHelp, stderr);
    return kExitUsage;
  }
  const char* first = argv[1];
  if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0 || strcmp(first, "help") == 0) {
    if (strcmp(first, "help") == 0 && argc > 2) {
      for (const Command& c : kCommands) {
        if (strcmp(argv[2], c.name) == 0) {
          set_command(c.name);
          char help[] = "--help";
          char* sub_argv[] = {argv[2], help, nullptr};
          return c.run(2, sub_argv);
        }
      }
      return usage_error("unknown command '%s'", argv[2]);
    }
    fputs(kHelp, stdout);
    return kExitOk;
  }
  if (strcmp(first, "-V") == 0 || strcmp(first, "--version") == 0) {
    printf("lambshm %s\n", LAMBSHM_VERSION);
    return kExitOk;
  }
  for (const Command& c : kCommands) {
    if (strcmp(first, c.name) == 0) {
      set_command(c.name);
      return c.run(argc - 1, argv + 1);
    }
  }
  if (first[0] == '-') return usage_error("unknown option '%s'", first);
  return usage_error("unknown command '%s'", first);
}
