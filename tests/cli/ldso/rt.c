/* A program as a user on glibc 2.26 builds it (-lrt -lpthread): shm_open
 * only.  Under the overlay its librt.so.1 is lambshm's, whose own imports
 * from libpthread.so.0 must then be in lambshm's shim on an ld.so < 2.30. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
  int fd = shm_open("/ldso-rt-test", O_CREAT | O_RDWR, 0600);
  if (fd < 0) {
    perror("shm_open");
    return 1;
  }
  close(fd);
  shm_unlink("/ldso-rt-test");
  puts("rt: ok");
  return 0;
}
