/* MPI check program for tests/e2e/test_mpi.py: `mpi_pingpong ITERS [GO_FILE]`.
 *
 * Rank 0 prints every rank's MPI_Get_processor_name ("rank R on NAME"). Then rank 0 sends ITERS messages of each
 * size (1 B .. 1 MiB) to the last rank, which checks them and echoes them back; rank 0 checks the echo and prints
 * the mean round-trip time per size. With more than two ranks, an MPI_Alltoall of 64 KiB blocks (every pair of
 * ranks talks) and an MPI_Allreduce are checked too. Rank 0 prints "pingpong ok" (or "pingpong MISMATCH").
 * With GO_FILE, rank 0 then waits (at most 60 s) until that file exists before every rank finalizes, so the test
 * can read the routers' relays while the MPI connections are still open. Exit 0 iff every byte matched. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned char byte_of(int k, int a, int b) { return (unsigned char)(k * 31 + a * 7 + b * 13); }

static void fill(unsigned char *p, int n, int a, int b) {
  for (int k = 0; k < n; k++) p[k] = byte_of(k, a, b);
}

int main(int argc, char **argv) {
  const int iters = argc > 1 ? atoi(argv[1]) : 100;
  static const int sizes[] = {1, 1024, 65536, 1 << 20};
  enum { kBlock = 65536 };
  int rank, nprocs, len;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nprocs);
  const int last = nprocs - 1;
  char name[MPI_MAX_PROCESSOR_NAME];
  char *names = malloc((size_t)nprocs * MPI_MAX_PROCESSOR_NAME);
  memset(name, 0, sizeof name);
  MPI_Get_processor_name(name, &len);
  MPI_Gather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, names, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (rank == 0)
    for (int r = 0; r < nprocs; r++) printf("rank %d on %s\n", r, names + (size_t)r * MPI_MAX_PROCESSOR_NAME);

  unsigned char *buf = malloc(1 << 20), *want = malloc(1 << 20);
  int bad = 0;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0] && nprocs > 1; s++) {
    const int n = sizes[s];
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    for (int i = 0; i < iters && (rank == 0 || rank == last); i++) {
      fill(want, n, n, i);
      if (rank == 0) {
        MPI_Send(want, n, MPI_BYTE, last, 1, MPI_COMM_WORLD);
        MPI_Recv(buf, n, MPI_BYTE, last, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else {
        MPI_Recv(buf, n, MPI_BYTE, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      }
      if (memcmp(buf, want, n) != 0) bad++;
      if (rank == last) MPI_Send(buf, n, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
    }
    const double rtt = (MPI_Wtime() - t0) / iters;
    if (rank == 0)
      printf("size %d iters %d rtt_us %.1f MBps %.1f\n", n, iters, rtt * 1e6, 2.0 * n / rtt / 1e6);
  }
  if (nprocs > 2) {
    unsigned char *out = malloc((size_t)nprocs * kBlock), *in = malloc((size_t)nprocs * kBlock);
    for (int r = 0; r < nprocs; r++) fill(out + (size_t)r * kBlock, kBlock, rank, r);
    MPI_Alltoall(out, kBlock, MPI_BYTE, in, kBlock, MPI_BYTE, MPI_COMM_WORLD);
    for (int r = 0; r < nprocs; r++) {
      fill(out, kBlock, r, rank);
      if (memcmp(out, in + (size_t)r * kBlock, kBlock) != 0) bad++;
    }
    long mine = rank + 1, sum = 0;
    MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (sum != (long)nprocs * (nprocs + 1) / 2) bad++;
    if (rank == 0) printf("alltoall %d x %d bytes, allreduce %ld\n", nprocs, kBlock, sum);
    free(out);
    free(in);
  }
  int total = 0;
  MPI_Reduce(&bad, &total, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
  if (rank == 0) printf("%s\n", total == 0 ? "pingpong ok" : "pingpong MISMATCH");
  fflush(stdout);
  if (rank == 0 && argc > 2) {
    for (int i = 0; i < 600 && access(argv[2], F_OK) != 0; i++) usleep(100000);
  }
  MPI_Barrier(MPI_COMM_WORLD);
  MPI_Bcast(&total, 1, MPI_INT, 0, MPI_COMM_WORLD);
  free(buf);
  free(want);
  free(names);
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
