/* What a pre-2.30 ld.so does with the overlay's libpthread beyond plain
 * binding (issue 24): dlopen of libpthread.so.0 by name, dlsym and dlvsym on
 * its handle, RTLD_DEFAULT and RTLD_NEXT, a thread started through a looked-up
 * pthread_create, and sem_open found the same ways.  Links only -ldl, so
 * libpthread (and the overlay's shim) arrives by dlopen, after start-up.
 * Prints TAP; exit status 0 when every check passes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int n, failed;
static void check(int ok, const char* what) {
  printf("%sok %d - %s\n", ok ? "" : "not ", ++n, what);
  if (!ok) failed = 1;
}

typedef int (*create_fn)(void*, const void*, void* (*)(void*), void*);
typedef int (*join_fn)(unsigned long, void**);
typedef sem_t* (*sem_open_fn)(const char*, int, ...);
typedef int (*sem_unlink_fn)(const char*);
typedef int (*sem_close_fn)(sem_t*);

static void* thread_body(void* arg) { return (char*)arg + 1; }

int main(int argc, char** argv) {
  const char* base = argc > 1 ? argv[1] : "GLIBC_2.2.5";
  void* h = dlopen("libpthread.so.0", RTLD_NOW | RTLD_GLOBAL);
  check(h != NULL, "dlopen(\"libpthread.so.0\") after start-up");
  if (h == NULL) { printf("# %s\n1..%d\n", dlerror(), n); return 1; }

  create_fn create = (create_fn)dlsym(h, "pthread_create");
  join_fn join = (join_fn)dlsym(h, "pthread_join");
  check(create != NULL && join != NULL, "dlsym(handle, pthread_create / pthread_join)");
  unsigned long t = 0;
  void* result = NULL;
  char marker[2];
  check(create && join && create(&t, NULL, thread_body, marker) == 0 && join(t, &result) == 0 &&
            result == marker + 1,
        "a thread through the looked-up pthread_create and pthread_join");

  check(dlvsym(h, "pthread_mutex_lock", base) != NULL, "dlvsym(handle, pthread_mutex_lock, base)");
#if defined(__x86_64__)
  /* The default version, newer than the base one on x86_64 only. */
  const char* cond_version = "GLIBC_2.3.2";
#else
  const char* cond_version = base;
#endif
  check(dlvsym(RTLD_DEFAULT, "pthread_cond_wait", cond_version) != NULL,
        "dlvsym(RTLD_DEFAULT, pthread_cond_wait) at its default version");
  check(dlsym(RTLD_DEFAULT, "pthread_self") != NULL, "dlsym(RTLD_DEFAULT, pthread_self)");
  check(dlsym(RTLD_NEXT, "pthread_key_create") != NULL,
        "dlsym(RTLD_NEXT, pthread_key_create) from the program");
  check(dlsym(h, "no_such_function_at_all") == NULL && dlerror() != NULL,
        "dlsym of a name nobody defines: NULL and an error");

  sem_open_fn open_sem = (sem_open_fn)dlvsym(h, "sem_open", base);
  sem_unlink_fn unlink_sem = (sem_unlink_fn)dlvsym(h, "sem_unlink", base);
  sem_close_fn close_sem = (sem_close_fn)dlvsym(h, "sem_close", base);
  check(open_sem && unlink_sem && close_sem, "dlvsym(handle, sem_open / sem_close / sem_unlink)");
  if (open_sem && unlink_sem && close_sem) {
    char name[64];
    snprintf(name, sizeof name, "/dl-client-%d", (int)getpid());
    sem_t* s = open_sem(name, O_CREAT | O_EXCL, 0600, 1u);
    check(s != SEM_FAILED, "sem_open through dlvsym");
    if (s == SEM_FAILED) printf("# sem_open: %s\n", strerror(errno));
    else {
      close_sem(s);
      unlink_sem(name);
    }
  }
  check(dlclose(h) == 0, "dlclose");
  printf("1..%d\n", n);
  return failed;
}
