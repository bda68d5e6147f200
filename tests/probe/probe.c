/* probe: runs shm_* and sem_* calls named on its command line (or, with "-",
 * one per line of standard input) and prints one normalised line per call:
 *
 *   <call as given> -> <result> [ERRNO]
 *
 * Results are normalised so that two implementations can be compared line by
 * line (differential tests): descriptors print as "fd", semaphores as "sem".
 * Built twice: here against lambshm (-DLAMBSHM_OLD_ABI binds the calls to the
 * pre-2.34 versions lambshm defines), and inside the Debian bullseye userland
 * with its own gcc, where it is an ordinary program linked with -lrt -pthread.
 *
 * Calls (NAME may use %HH escapes and {c*N} for N copies of byte c; NULL is a
 * null pointer; FLAGS like O_CREAT|O_EXCL|O_RDWR):
 *   shm_open NAME FLAGS MODE | shm_unlink NAME | ftruncate SIZE | close | fstat
 *   pwrite TEXT | pread N (at offset 0 of the shm descriptor)
 *   sem_open NAME FLAGS [MODE VALUE] | sem_close | sem_unlink NAME
 *   sem_post | sem_wait | sem_trywait | sem_getvalue | sem_timedwait_ms MS
 *   sem_timedwait_abs SEC NSEC | await_waiter MS | ls [DIR] | rmtree DIR
 *   sleep_ms MS | echo TEXT | time
 *   sh COMMAND... (runs the rest of the line with /bin/sh: lets a test change the
 *   backing directory between two calls) | fill_fds (opens /dev/null until EMFILE)
 *   | free_fd (closes one of those)
 * await_waiter polls (every millisecond, for at most MS) until a thread is
 * blocked on the semaphore, reading glibc's waiter count (the high half of
 * its first 64-bit word): then a sem_post is known to need a futex wake.
 * The last descriptor and semaphore opened are the ones the others act on.
 */
#define _GNU_SOURCE
#ifdef LAMBSHM_OLD_ABI
#include "old_abi.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const struct { int value; const char* name; } kErrnos[] = {
    {EPERM, "EPERM"},   {ENOENT, "ENOENT"},   {EINTR, "EINTR"},     {EBADF, "EBADF"},
    {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"},   {EACCES, "EACCES"},   {EFAULT, "EFAULT"},
    {EEXIST, "EEXIST"}, {ENOTDIR, "ENOTDIR"}, {EISDIR, "EISDIR"},   {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"}, {EMFILE, "EMFILE"},   {ENOSPC, "ENOSPC"},   {EROFS, "EROFS"},
    {ERANGE, "ERANGE"}, {ENAMETOOLONG, "ENAMETOOLONG"}, {ENOSYS, "ENOSYS"},
    {ELOOP, "ELOOP"},   {EOVERFLOW, "EOVERFLOW"}, {ETIMEDOUT, "ETIMEDOUT"},
    {EBUSY, "EBUSY"},   {ETXTBSY, "ETXTBSY"},  {EXDEV, "EXDEV"},
};

static const char* errno_name(int e) {
  static char buf[32];
  for (size_t i = 0; i < sizeof kErrnos / sizeof kErrnos[0]; ++i)
    if (kErrnos[i].value == e) return kErrnos[i].name;
  snprintf(buf, sizeof buf, "E%d", e);
  return buf;
}

/* Decodes %HH and {c*N}; returns a static buffer, or NULL for "NULL". */
static char* decode_name(const char* in) {
  static char out[8192];
  if (strcmp(in, "NULL") == 0) return NULL;
  size_t n = 0;
  for (const char* p = in; *p && n < sizeof out - 1;) {
    if (p[0] == '%' && p[1] && p[2]) {
      char hex[3] = {p[1], p[2], 0};
      out[n++] = (char)strtol(hex, NULL, 16);
      p += 3;
    } else if (p[0] == '{' && p[1] && p[2] == '*') {
      char c = p[1];
      char* end;
      long count = strtol(p + 3, &end, 10);
      for (long i = 0; i < count && n < sizeof out - 1; ++i) out[n++] = c;
      p = *end == '}' ? end + 1 : end;
    } else {
      out[n++] = *p++;
    }
  }
  out[n] = 0;
  return out;
}

static int parse_flags(const char* s) {
  static const struct { const char* name; int value; } kFlags[] = {
      {"O_RDONLY", O_RDONLY}, {"O_WRONLY", O_WRONLY},     {"O_RDWR", O_RDWR},
      {"O_CREAT", O_CREAT},   {"O_EXCL", O_EXCL},         {"O_TRUNC", O_TRUNC},
      {"O_NONBLOCK", O_NONBLOCK}, {"O_APPEND", O_APPEND}, {"O_DIRECTORY", O_DIRECTORY},
  };
  int flags = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s);
  for (char* tok = strtok(buf, "|"); tok; tok = strtok(NULL, "|")) {
    int found = 0;
    for (size_t i = 0; i < sizeof kFlags / sizeof kFlags[0]; ++i)
      if (strcmp(tok, kFlags[i].name) == 0) flags |= kFlags[i].value, found = 1;
    if (!found) flags |= (int)strtol(tok, NULL, 0);
  }
  return flags;
}

static int g_fd = -1;
static sem_t* g_sem = SEM_FAILED;
/* sem_opens of g_sem not yet closed: "(same)" means the same mapping while
 * still open, not an address that happens to be reused after sem_close. */
static int g_sem_refs;
static int g_hog[65536];
static int g_hogs;

static void result(const char* call, long r, int failed) {
  if (failed)
    printf("%s -> -1 %s\n", call, errno_name(errno));
  else
    printf("%s -> %ld\n", call, r);
}

static int cmp_str(const void* a, const void* b) {
  return strcmp(*(char* const*)a, *(char* const*)b);
}

/* The live names of this user's name table in `dir` (core/name_table.h: slots
 * of 128 bytes, the file's last 16,384 * 128 bytes; state at 0 (1: live), dev at 32, ino at 40,
 * the name at 48; keeper pid and fd at 16, creator's at 24), as "NAME MODE
 * SIZE" lines like a file's, from the memfd its keeper or creator holds; a
 * name nobody holds is "NAME stale".  A memfd object's short name is no file,
 * but it is an object of the directory all the same. */
static size_t list_table(const char* dir, char** names, size_t n, size_t max) {
  char path[8192];
  snprintf(path, sizeof path, "%s/.lambshm-names.5.%u", dir, (unsigned)geteuid());
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return n;
  struct stat st;
  if (fstat(fd, &st) != 0) st.st_size = 0;
  unsigned char slot[128];
  off_t first = st.st_size - (off_t)16384 * 128;
  for (off_t off = first < 0 ? st.st_size : first; off + 128 <= st.st_size && n < max;
       off += 128) {
    char line[8192] = "";
    /* A memfd handed to the keeper is in flight until the keeper writes
     * itself into the slot (its pid stays 0 till then), and a semaphore's
     * creator has closed its own descriptor: wait for the keeper a while. */
    for (int attempt = 0; attempt < 400 && line[0] == 0; ++attempt) {
      if (pread(fd, slot, sizeof slot, off) != (ssize_t)sizeof slot) break;
      uint32_t state;
      int32_t who[4];
      uint64_t dev, ino;
      memcpy(&state, slot, 4);
      if (state != 1) break;
      memcpy(who, slot + 16, sizeof who);
      memcpy(&dev, slot + 32, 8);
      memcpy(&ino, slot + 40, 8);
      char name[81];
      memcpy(name, slot + 48, 80);
      name[80] = 0;
      for (int k = 0; k < 4; k += 2) {
        char held[64];
        struct stat m;
        snprintf(held, sizeof held, "/proc/%d/fd/%d", (int)who[k], (int)who[k + 1]);
        if (who[k] > 0 && stat(held, &m) == 0 && (uint64_t)m.st_dev == dev &&
            (uint64_t)m.st_ino == ino) {
          snprintf(line, sizeof line, "%s %o %lld", name, (unsigned)(m.st_mode & 07777),
                   (long long)m.st_size);
          break;
        }
      }
      if (line[0] == 0 && (who[0] != 0 || attempt == 399)) snprintf(line, sizeof line, "%s stale", name);
      if (line[0] == 0) usleep(5000);
    }
    if (line[0] != 0) names[n++] = strdup(line);
  }
  close(fd);
  return n;
}

static void list_dir(const char* call, const char* dir) {
  DIR* d = opendir(dir);
  if (!d) {
    printf("%s -> -1 %s\n", call, errno_name(errno));
    return;
  }
  char* names[4096];
  size_t n = 0;
  struct dirent* e;
  while ((e = readdir(d)) && n < 4096) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    /* A backing directory's marker (core/ownership.h) is no object. */
    if (strcmp(e->d_name, ".lambshm-dir") == 0) continue;
    /* Nor is a name table: its names are (list_table). */
    if (strncmp(e->d_name, ".lambshm-names.", 15) == 0) continue;
    char path[8192], line[8192];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (lstat(path, &st) != 0) continue;
    snprintf(line, sizeof line, "%s %o %lld", e->d_name, (unsigned)(st.st_mode & 07777),
             (long long)st.st_size);
    names[n++] = strdup(line);
  }
  closedir(d);
  n = list_table(dir, names, n, 4096);
  qsort(names, n, sizeof names[0], cmp_str);
  printf("%s -> %zu entries\n", call, n);
  for (size_t i = 0; i < n; ++i) printf("  %s\n", names[i]), free(names[i]);
}

static void run(char* line) {
  char call[8192];
  snprintf(call, sizeof call, "%s", line);
  char* argv[8] = {0};
  int argc = 0;
  for (char* tok = strtok(line, " \t\n"); tok && argc < 8; tok = strtok(NULL, " \t\n"))
    argv[argc++] = tok;
  if (argc == 0) return;
  const char* op = argv[0];
  const char* a1 = argc > 1 ? argv[1] : "";
  errno = 0;
  if (strcmp(op, "shm_open") == 0 && argc >= 3) {
    int fd = shm_open(decode_name(a1), parse_flags(argv[2]),
                      argc > 3 ? (mode_t)strtol(argv[3], NULL, 8) : 0);
    if (fd >= 0) {
      if (g_fd >= 0) close(g_fd);
      g_fd = fd;
      int cloexec = (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
      printf("%s -> fd%s\n", call, cloexec ? " cloexec" : "");
    } else {
      result(call, -1, 1);
    }
  } else if (strcmp(op, "shm_unlink") == 0) {
    int r = shm_unlink(decode_name(a1));
    result(call, r, r < 0);
  } else if (strcmp(op, "ftruncate") == 0) {
    int r = ftruncate(g_fd, strtol(a1, NULL, 0));
    result(call, r, r < 0);
  } else if (strcmp(op, "close") == 0) {
    int r = close(g_fd);
    g_fd = -1;
    result(call, r, r < 0);
  } else if (strcmp(op, "fchmod") == 0) {
    int r = fchmod(g_fd, (mode_t)strtol(a1, NULL, 8));
    result(call, r, r < 0);
  } else if (strcmp(op, "fstat") == 0) {
    struct stat st;
    if (fstat(g_fd, &st) != 0) result(call, -1, 1);
    else printf("%s -> mode %o size %lld\n", call, (unsigned)(st.st_mode & 07777), (long long)st.st_size);
  } else if (strcmp(op, "pwrite") == 0) {
    ssize_t r = pwrite(g_fd, a1, strlen(a1), 0);
    result(call, r, r < 0);
  } else if (strcmp(op, "pread") == 0) {
    char buf[256] = {0};
    size_t n = (size_t)strtoul(a1, NULL, 0);
    ssize_t r = pread(g_fd, buf, n < sizeof buf ? n : sizeof buf - 1, 0);
    if (r < 0) result(call, r, 1);
    else printf("%s -> %s\n", call, buf);
  } else if (strcmp(op, "sem_open") == 0 && argc >= 3) {
    int flags = parse_flags(argv[2]);
    sem_t* s = argc >= 5 ? sem_open(decode_name(a1), flags, (mode_t)strtol(argv[3], NULL, 8),
                                    (unsigned)strtoul(argv[4], NULL, 0))
                         : sem_open(decode_name(a1), flags);
    if (s == SEM_FAILED) {
      result(call, -1, 1);
    } else {
      int same = s == g_sem && g_sem_refs > 0;
      printf("%s -> sem%s\n", call, same ? " (same)" : "");
      g_sem_refs = same ? g_sem_refs + 1 : 1;
      g_sem = s;
    }
  } else if (strcmp(op, "sem_close") == 0) {
    int r = sem_close(g_sem);
    if (r == 0 && g_sem_refs > 0) --g_sem_refs;
    result(call, r, r < 0);
  } else if (strcmp(op, "sem_unlink") == 0) {
    int r = sem_unlink(decode_name(a1));
    result(call, r, r < 0);
  } else if (strcmp(op, "sem_post") == 0) {
    int r = sem_post(g_sem);
    result(call, r, r < 0);
  } else if (strcmp(op, "sem_wait") == 0) {
    int r = sem_wait(g_sem);
    result(call, r, r < 0);
  } else if (strcmp(op, "sem_trywait") == 0) {
    int r = sem_trywait(g_sem);
    result(call, r, r < 0);
  } else if (strcmp(op, "sem_getvalue") == 0) {
    int v = -1;
    int r = sem_getvalue(g_sem, &v);
    if (r < 0) result(call, r, 1);
    else printf("%s -> %d\n", call, v);
  } else if (strcmp(op, "sem_timedwait_ms") == 0 || strcmp(op, "sem_timedwait_abs") == 0) {
    struct timespec ts;
    if (op[14] == 'm') {
      clock_gettime(CLOCK_REALTIME, &ts);
      long ms = strtol(a1, NULL, 0);
      ts.tv_sec += ms / 1000;
      ts.tv_nsec += (ms % 1000) * 1000000;
      if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    } else {
      ts.tv_sec = strtol(a1, NULL, 0);
      ts.tv_nsec = argc > 2 ? strtol(argv[2], NULL, 0) : 0;
    }
    int r = sem_timedwait(g_sem, &ts);
    result(call, r, r < 0);
  } else if (strcmp(op, "await_waiter") == 0) {
    long ms = strtol(a1, NULL, 0), waited = 0;
    const volatile uint64_t* data = (const volatile uint64_t*)(void*)g_sem;
    while ((*data >> 32) == 0 && waited < ms) usleep(1000), ++waited;
    printf("%s -> %d\n", call, (int)((*data >> 32) != 0));
  } else if (strcmp(op, "time") == 0) {
    printf("%s -> %lld\n", call, (long long)time(NULL));
  } else if (strcmp(op, "ls") == 0) {
    const char* dir = argc > 1 ? a1 : getenv("LAMBSHM_DIR");
    list_dir(call, dir ? dir : "/dev/shm");
  } else if (strcmp(op, "rmtree") == 0) {
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", a1);
    result(call, system(cmd), 0);
  } else if (strcmp(op, "fill_fds") == 0) {
    while ((g_hog[g_hogs] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0 && g_hogs < 65535) ++g_hogs;
    printf("%s -> %s after %d\n", call, errno_name(errno), g_hogs);
  } else if (strcmp(op, "free_fd") == 0) {
    int r = g_hogs > 0 ? close(g_hog[--g_hogs]) : -1;
    result(call, r, r < 0);
  } else if (strcmp(op, "sh") == 0) {
    int r = system(call + 3);
    result(call, r, 0);
  } else if (strcmp(op, "sleep_ms") == 0) {
    usleep((useconds_t)strtol(a1, NULL, 0) * 1000);
  } else if (strcmp(op, "echo") == 0) {
    printf("%s\n", call + 5);
  } else {
    printf("%s -> unknown call\n", call);
  }
  fflush(stdout);
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "-") == 0) {
      char line[8192];
      while (fgets(line, sizeof line, stdin)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\n")] = 0;
        run(line);
      }
    } else {
      char line[8192];
      snprintf(line, sizeof line, "%s", argv[i]);
      run(line);
    }
  }
  return 0;
}
