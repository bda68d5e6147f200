// The command line, parsed by libc's getopt_long (glibc has it at 2.2.5), so
// every subcommand follows the conventions people expect: long options
// (--dir DIR, --dir=DIR, an unambiguous prefix such as --print), short ones
// alone or combined (-n -v, -nv), "--" to end options, and operands anywhere
// (rm a --dry-run b) unless the command takes a command line of its own (run:
// everything from the first operand on is the command's).  Every usage error
// prints one message and makes next() return kUsage (exit status 2).
#pragma once

#include "support.h"

namespace lambshm::cli {

struct OptionSpec {
  const char* long_name;  // without "--"
  char short_name;        // 0: none
  bool takes_value;
};

class Args {
 public:
  static constexpr int kDone = -1;
  static constexpr int kUsage = -2;  // a usage error was printed

  // argv[0] is the subcommand's name; argv may be permuted.  With
  // `stop_at_operand`, the first operand and everything after it are operands.
  Args(int argc, char** argv, const OptionSpec* options, size_t option_count,
       bool stop_at_operand = false);

  // The index in `options` of the next option (its value in value()), kDone
  // when all are consumed, or kUsage.
  int next();
  const char* value() const { return value_; }

  // The operands, once next() has returned kDone.
  const Vec<char*>& operands() const { return operands_; }

 private:
  int argc_;
  char** argv_;
  const OptionSpec* options_;
  size_t option_count_;
  bool stop_at_operand_;
  bool started_ = false;
  const char* value_ = nullptr;
  Vec<char*> operands_;
};

// A directory given as an option's value must be an absolute path: relative
// ones would mean something else to each program that reads them.  False,
// after a usage error, otherwise.
bool absolute_dir_option(const char* option, const char* value);

}  // namespace lambshm::cli
