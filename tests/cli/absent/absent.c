/* Needs lambshm_test_absent@GLIBC_2.30 from libpthread.so.0 (see stub.c). */
#include <stdio.h>
void lambshm_test_absent(void);
int main(void) {
  puts("absent: started");
  lambshm_test_absent();
  return 0;
}
