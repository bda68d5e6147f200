// What tests/reliability/victim.cpp reported, parsed, and helpers for the
// tests that drive it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace lambshm::test {

struct VictimReport {
  bool parsed = false;   // a "result" line was seen
  bool ok = false;
  int error = 0;
  bool has_sem = false;
  unsigned long addr = 0, inode = 0;
  int value = -1;
  bool peer_reported = false, peer_ok = false;
  int peer_error = 0;
  unsigned long peer_addr = 0, peer_inode = 0;
  std::string peer_still_mapped;
  std::vector<std::string> leaks;  // "fd N TARGET" / "map LINE"
};

VictimReport parse_victim(const std::string& output);

// The argv of a victim run: the helper's path, options, then the call.
std::vector<std::string> victim_argv(const std::vector<std::string>& options,
                                     const std::vector<std::string>& call);

// The environment of a victim: a minimal one with LAMBSHM_DIR=dir.
std::vector<std::string> victim_env(const std::string& dir);

// Writes a complete semaphore file (glibc's 32 bytes, process-shared) as
// sem.NAME into `dir` the way glibc does (temporary file, then link): a
// foreign creator.  Returns 0 or errno (EEXIST when the name is taken).
int plant_semaphore(const std::string& dir, const std::string& name, unsigned value);

// The value stored in DIR/sem.NAME when it is a complete semaphore file
// (32 bytes, process-shared flag set), else -1.
long semaphore_file_value(const std::string& path);

}  // namespace lambshm::test
