// The subcommands: each takes its own argv (argv[0] is its name) and returns
// the exit status.
#pragma once

namespace lambshm::cli {

int cmd_run(int argc, char** argv);
int cmd_doctor(int argc, char** argv);
int cmd_ls(int argc, char** argv);
int cmd_rm(int argc, char** argv);
int cmd_gc(int argc, char** argv);

}  // namespace lambshm::cli
