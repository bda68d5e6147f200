// A small command-line parser with the conventions people expect: long
// options (--dir DIR, --dir=DIR), short ones (-n), "--" to end options, and
// operands anywhere (rm a --dry-run b) unless the command takes a command line
// of its own (run: everything from the first operand on is the command's).
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

  // argv[0] is the subcommand's name.  With `stop_at_operand`, the first
  // operand and everything after it are operands.
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
  int index_ = 1;
  const OptionSpec* options_;
  size_t option_count_;
  bool stop_at_operand_;
  bool options_ended_ = false;
  const char* value_ = nullptr;
  Vec<char*> operands_;
};

}  // namespace lambshm::cli
