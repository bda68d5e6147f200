#include "args.h"

#include <getopt.h>

namespace lambshm::cli {

namespace {

// getopt_long's answer for options_[i] given by its long name.
constexpr int kLongBase = 0x100;

}  // namespace

Args::Args(int argc, char** argv, const OptionSpec* options, size_t option_count,
           bool stop_at_operand)
    : argc_(argc), argv_(argv), options_(options), option_count_(option_count),
      stop_at_operand_(stop_at_operand) {}

int Args::next() {
  value_ = nullptr;
  // Rebuilt on each call: a handful of options, and no state to keep in sync.
  Vec<struct option> longs;
  Str shorts;
  // '+': stop at the first operand; ':': report a missing value as ':'.
  shorts.append(stop_at_operand_ ? "+:" : ":");
  for (size_t i = 0; i < option_count_; ++i) {
    const OptionSpec& o = options_[i];
    if (o.long_name != nullptr)
      longs.push({o.long_name, o.takes_value ? required_argument : no_argument, nullptr,
                  kLongBase + (int)i});
    if (o.short_name != 0) {
      shorts.append(o.short_name);
      if (o.takes_value) shorts.append(':');
    }
  }
  longs.push({nullptr, 0, nullptr, 0});
  if (!started_) {
    started_ = true;
    optind = 0;  // glibc: start afresh (and read POSIXLY_CORRECT again)
    opterr = 0;  // the messages are ours
  }
  int c = getopt_long(argc_, argv_, shorts.c_str(), &longs[0], nullptr);
  if (c == -1) {
    for (int i = optind; i < argc_; ++i) operands_.push(argv_[i]);
    return kDone;
  }
  if (c >= kLongBase) {
    value_ = optarg;
    return c - kLongBase;
  }
  // The argument at fault: for a long option, the one getopt just stepped over.
  const char* arg = argv_[optind - 1];
  if (c == ':') {
    if (optopt >= kLongBase) {
      usage_error("option '--%s' needs a value", options_[optopt - kLongBase].long_name);
    } else if (optopt != 0) {
      usage_error("option '-%c' needs a value", optopt);
    } else {
      usage_error("option '%s' needs a value", arg);
    }
    return kUsage;
  }
  if (c == '?') {
    if (optopt >= kLongBase) {
      usage_error("option '--%s' takes no value", options_[optopt - kLongBase].long_name);
    } else if (optopt != 0) {
      usage_error("unknown option '-%c'", optopt);
    } else {
      usage_error("unknown or ambiguous option '%s'", arg);
    }
    return kUsage;
  }
  for (size_t i = 0; i < option_count_; ++i)
    if (options_[i].short_name == c) {
      value_ = optarg;
      return (int)i;
    }
  usage_error("unknown option '-%c'", c);
  return kUsage;
}

bool absolute_dir_option(const char* option, const char* value) {
  if (value[0] == '\0') {
    usage_error("%s needs a directory, not an empty string", option);
    return false;
  }
  if (value[0] != '/') {
    usage_error("%s needs an absolute path, not '%s'", option, value);
    return false;
  }
  return true;
}

}  // namespace lambshm::cli
