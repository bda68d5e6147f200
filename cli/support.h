// A small vocabulary for a program without the C++ runtime (no operator new,
// no exceptions): growable arrays and strings on malloc, and the messages every
// subcommand prints.  Running out of memory is fatal in a command-line tool:
// it says so and exits 1.
#pragma once

#include <sys/types.h>

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "growable_array.h"

namespace lambshm::cli {

[[noreturn]] void out_of_memory();

inline void* xrealloc(void* p, size_t size) {
  void* q = realloc(p, size == 0 ? 1 : size);
  if (q == nullptr) out_of_memory();
  return q;
}

// A growable array of trivially copyable values (core/growable_array.h),
// whose running out of memory is fatal.
template <typename T>
class Vec : public GrowableArray<T> {
 public:
  void push(const T& v) {
    if (!GrowableArray<T>::push(v)) out_of_memory();
  }
};

// A growable NUL-terminated string.
class Str {
 public:
  Str() = default;
  ~Str() { free(data_); }
  Str(Str&& o) noexcept : data_(o.data_), size_(o.size_), cap_(o.cap_) {
    o.data_ = nullptr;
    o.size_ = o.cap_ = 0;
  }
  Str(const Str&) = delete;
  Str& operator=(const Str&) = delete;
  Str& operator=(Str&& o) noexcept {
    free(data_);
    data_ = o.data_;
    size_ = o.size_;
    cap_ = o.cap_;
    o.data_ = nullptr;
    o.size_ = o.cap_ = 0;
    return *this;
  }

  void append(const char* s, size_t n);
  void append(const char* s) { append(s, strlen(s)); }
  void append(char c) { append(&c, 1); }
  void appendf(const char* format, ...) __attribute__((format(printf, 2, 3)));
  void vappendf(const char* format, va_list ap);
  void clear() {
    size_ = 0;
    if (data_ != nullptr) data_[0] = '\0';
  }
  // Gives up the buffer (malloc'd, never null) to the caller.
  char* release();

  const char* c_str() const { return data_ != nullptr ? data_ : ""; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  void reserve(size_t n);
  char* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

// A copy on the heap that lives until the program exits.
char* xstrdup(const char* s);
char* xstrndup(const char* s, size_t n);

// --- Messages -----------------------------------------------------------------

// The running subcommand, for message prefixes ("lambshm: ls: ...").
void set_command(const char* name);
// Messages are "NAME: ..." instead of "lambshm: COMMAND: ..." (the exec wrapper).
void set_program(const char* name);

// "lambshm: <command>: <message>" on stderr.
void error(const char* format, ...) __attribute__((format(printf, 1, 2)));
// The same, then a pointer to --help; returns 2, the status of a usage error.
int usage_error(const char* format, ...) __attribute__((format(printf, 1, 2)));

// The exit statuses shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// --- Small helpers --------------------------------------------------------------

// Seconds since the epoch, with nanoseconds.
double now_seconds();

// "45s", "12m", "3h", "2d4h": short, for tables.
void format_age(double seconds, Str* out);
// "512 B", "4.0 KiB", "480.0 MiB".
void format_bytes(uint64_t bytes, Str* out);

// Parses "90", "90s", "15m", "2h", "7d", "1w" and sums like "1h30m" into
// seconds.  Returns false for anything else (empty, negative, unknown unit,
// overflow).
bool parse_duration(const char* text, uint64_t* seconds);

// A JSON string literal (with quotes) for arbitrary bytes: control characters
// are escaped and invalid UTF-8 becomes U+FFFD, so the output is always valid
// JSON (ls adds a name's exact bytes in hex beside it).
void json_string(const char* s, Str* out);
void json_string(const char* s, size_t n, Str* out);
// `s`'s bytes as a JSON string of hex digits, two per byte.
void json_hex(const char* s, Str* out);

// `s` for a terminal: control characters as \xHH, so that a file name can
// neither break a table's lines nor send escape sequences.
void printable(const char* s, Str* out);

// The user name of `uid`, or null when it has none.
const char* user_name(uid_t uid);

// Writes `s` to stdout; false on a write error (reported once).
bool print(const Str& s);

}  // namespace lambshm::cli
