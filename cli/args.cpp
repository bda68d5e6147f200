#include "args.h"

namespace lambshm::cli {

Args::Args(int argc, char** argv, const OptionSpec* options, size_t option_count,
           bool stop_at_operand)
    : argc_(argc), argv_(argv), options_(options), option_count_(option_count),
      stop_at_operand_(stop_at_operand) {}

int Args::next() {
  value_ = nullptr;
  while (index_ < argc_) {
    char* arg = argv_[index_++];
    if (options_ended_ || arg[0] != '-' || arg[1] == '\0') {  // "-" is an operand
      operands_.push(arg);
      if (stop_at_operand_) options_ended_ = true;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      options_ended_ = true;
      continue;
    }
    if (arg[1] == '-') {
      const char* name = arg + 2;
      const char* eq = strchr(name, '=');
      size_t length = eq != nullptr ? (size_t)(eq - name) : strlen(name);
      for (size_t i = 0; i < option_count_; ++i) {
        const OptionSpec& o = options_[i];
        if (o.long_name == nullptr || strlen(o.long_name) != length ||
            strncmp(o.long_name, name, length) != 0)
          continue;
        if (!o.takes_value) {
          if (eq != nullptr) {
            usage_error("option '--%s' takes no value", o.long_name);
            return kUsage;
          }
          return (int)i;
        }
        if (eq != nullptr) {
          value_ = eq + 1;
        } else if (index_ < argc_) {
          value_ = argv_[index_++];
        } else {
          usage_error("option '--%s' needs a value", o.long_name);
          return kUsage;
        }
        return (int)i;
      }
      usage_error("unknown option '--%.*s'", (int)length, name);
      return kUsage;
    }
    // One short option per argument; its value is the rest or the next argument.
    for (size_t i = 0; i < option_count_; ++i) {
      const OptionSpec& o = options_[i];
      if (o.short_name == 0 || o.short_name != arg[1]) continue;
      if (!o.takes_value) {
        if (arg[2] != '\0') {
          usage_error("unknown option '%s'", arg);
          return kUsage;
        }
        return (int)i;
      }
      if (arg[2] != '\0') {
        value_ = arg + 2;
      } else if (index_ < argc_) {
        value_ = argv_[index_++];
      } else {
        usage_error("option '-%c' needs a value", o.short_name);
        return kUsage;
      }
      return (int)i;
    }
    usage_error("unknown option '%s'", arg);
    return kUsage;
  }
  return kDone;
}

}  // namespace lambshm::cli
