#include "support.h"

#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace lambshm::cli {

void out_of_memory() {
  static const char kMessage[] = "lambshm: out of memory\n";
  (void)!write(2, kMessage, sizeof kMessage - 1);
  _exit(kExitFailure);
}

void Str::reserve(size_t n) {
  if (n + 1 <= cap_) return;
  size_t cap = cap_ == 0 ? 64 : cap_;
  while (cap < n + 1) cap *= 2;
  data_ = static_cast<char*>(xrealloc(data_, cap));
  cap_ = cap;
}

void Str::append(const char* s, size_t n) {
  reserve(size_ + n);
  memcpy(data_ + size_, s, n);
  size_ += n;
  data_[size_] = '\0';
}

void Str::vappendf(const char* format, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  char small[256];
  int n = vsnprintf(small, sizeof small, format, copy);
  va_end(copy);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    append(small, (size_t)n);
    return;
  }
  reserve(size_ + (size_t)n);
  vsnprintf(data_ + size_, (size_t)n + 1, format, ap);
  size_ += (size_t)n;
}

void Str::appendf(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vappendf(format, ap);
  va_end(ap);
}

char* Str::release() {
  reserve(size_);
  char* p = data_;
  data_ = nullptr;
  size_ = cap_ = 0;
  return p;
}

char* xstrndup(const char* s, size_t n) {
  char* p = static_cast<char*>(xrealloc(nullptr, n + 1));
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char* xstrdup(const char* s) { return xstrndup(s, strlen(s)); }

// --- Messages -----------------------------------------------------------------

namespace {
const char* g_program = "lambshm";
const char* g_command = nullptr;

void vmessage(const char* format, va_list ap) {
  Str line;
  line.appendf("%s: ", g_program);
  if (g_command != nullptr) line.appendf("%s: ", g_command);
  line.vappendf(format, ap);
  line.append('\n');
  fflush(stdout);  // keep the order of interleaved output
  fputs(line.c_str(), stderr);
}
}  // namespace

void set_command(const char* name) { g_command = name; }

void set_program(const char* name) {
  g_program = name;
  g_command = nullptr;
}

void error(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vmessage(format, ap);
  va_end(ap);
}

int usage_error(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  vmessage(format, ap);
  va_end(ap);
  fprintf(stderr, "Try 'lambshm %s%s--help' for more information.\n",
          g_command != nullptr ? g_command : "", g_command != nullptr ? " " : "");
  return kExitUsage;
}

// --- Small helpers --------------------------------------------------------------

double now_seconds() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void format_age(double seconds, Str* out) {
  if (seconds < 0) seconds = 0;
  uint64_t s = (uint64_t)seconds;
  if (s < 60) {
    out->appendf("%llus", (unsigned long long)s);
  } else if (s < 3600) {
    out->appendf("%llum", (unsigned long long)(s / 60));
  } else if (s < 86400) {
    uint64_t m = (s % 3600) / 60;
    out->appendf("%lluh", (unsigned long long)(s / 3600));
    if (m != 0) out->appendf("%llum", (unsigned long long)m);
  } else {
    uint64_t h = (s % 86400) / 3600;
    out->appendf("%llud", (unsigned long long)(s / 86400));
    if (h != 0) out->appendf("%lluh", (unsigned long long)h);
  }
}

void format_bytes(uint64_t bytes, Str* out) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) {
    out->appendf("%llu B", (unsigned long long)bytes);
    return;
  }
  double v = (double)bytes / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < sizeof kUnits / sizeof kUnits[0]) {
    v /= 1024;
    ++unit;
  }
  out->appendf("%.1f %s", v, kUnits[unit]);
}

bool parse_duration(const char* text, uint64_t* seconds) {
  if (text == nullptr || *text == '\0') return false;
  // A bare number is seconds; otherwise every number carries a unit.
  bool bare = strspn(text, "0123456789") == strlen(text);
  uint64_t total = 0;
  const char* p = text;
  while (*p != '\0') {
    if (*p < '0' || *p > '9') return false;
    uint64_t n = 0;
    while (*p >= '0' && *p <= '9') {
      if (n > (UINT64_MAX - 9) / 10) return false;
      n = n * 10 + (uint64_t)(*p++ - '0');
    }
    uint64_t unit = 1;
    if (!bare) {
      switch (*p++) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        default: return false;
      }
    }
    if (n != 0 && unit > UINT64_MAX / n) return false;
    if (total > UINT64_MAX - n * unit) return false;
    total += n * unit;
  }
  *seconds = total;
  return true;
}

namespace {
// Length of the valid UTF-8 sequence at `s` (1 to 4), or 0 if it is not one.
size_t utf8_sequence(const unsigned char* s, size_t n) {
  unsigned char c = s[0];
  size_t length;
  uint32_t min, cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    length = 2, min = 0x80, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    length = 3, min = 0x800, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    length = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return length;
}
}  // namespace

void json_string(const char* s, size_t n, Str* out) {
  out->append('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s);
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    switch (c) {
      case '"': out->append("\\\""); ++i; continue;
      case '\\': out->append("\\\\"); ++i; continue;
      case '\n': out->append("\\n"); ++i; continue;
      case '\t': out->append("\\t"); ++i; continue;
      case '\r': out->append("\\r"); ++i; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      out->appendf("\\u%04x", c);
      ++i;
      continue;
    }
    size_t length = utf8_sequence(p + i, n - i);
    if (length == 0) {
      // Not UTF-8: U+FFFD, as strict JSON readers need valid Unicode (a lone
      // surrogate is not); callers that must keep the bytes add them in hex.
      out->append("\\ufffd");
      ++i;
      continue;
    }
    out->append(s + i, length);
    i += length;
  }
  out->append('"');
}

void json_string(const char* s, Str* out) { json_string(s, strlen(s), out); }

void json_hex(const char* s, Str* out) {
  out->append('"');
  for (const auto* p = reinterpret_cast<const unsigned char*>(s); *p != '\0'; ++p)
    out->appendf("%02x", *p);
  out->append('"');
}

void printable(const char* s, Str* out) {
  for (const auto* p = reinterpret_cast<const unsigned char*>(s); *p != '\0'; ++p) {
    if (*p < 0x20 || *p == 0x7f) {
      out->appendf("\\x%02x", *p);
    } else {
      out->append((char)*p);
    }
  }
}

const char* user_name(uid_t uid) {
  // getpwuid consults NSS; a uid without an entry (the Lambda user) is null.
  struct passwd* pw = getpwuid(uid);
  return pw != nullptr ? pw->pw_name : nullptr;
}

bool print(const Str& s) {
  if (fwrite(s.c_str(), 1, s.size(), stdout) != s.size() || fflush(stdout) != 0) {
    static bool reported = false;
    if (!reported) {
      reported = true;
      error("cannot write to standard output: %s", strerror(errno));
    }
    return false;
  }
  return true;
}

}  // namespace lambshm::cli
