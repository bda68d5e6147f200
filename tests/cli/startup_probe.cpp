// Built exactly as the lambshm command is (its own _start from cli/start.cpp,
// -fPIC, the glibc 2.26 link stubs): checks that constructors run once, that
// environ is the real one, and that destructors run, on the glibc it runs on.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

extern char** environ;

namespace {
int g_constructed = 0;
__attribute__((constructor)) void construct() { ++g_constructed; }
__attribute__((destructor)) void destruct() { printf("destructor ran\n"); }
}  // namespace

int main(int argc, char** argv, char** envp) {
  const char* probe = getenv("LAMBSHM_STARTUP_PROBE");
  printf("constructors ran %d time(s)\n", g_constructed);
  printf("environ %s main's envp\n", environ == envp ? "is" : "is not");
  printf("getenv %s\n", probe != nullptr && strcmp(probe, "yes") == 0 ? "works" : "fails");
  printf("argv[%d] = %s\n", argc - 1, argv[argc - 1]);
  return 0;
}
