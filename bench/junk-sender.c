/*
 * A fast, bounded UDP junk sender for `npm run bench` (bench/fast-sender.ts builds it with the
 * system compiler at bench time and runs it in the client namespace). It cycles through payloads
 * read from a file (one hex payload a line) with sendmmsg, one connected socket per source
 * address, as fast as it can or paced to a rate, and stops by itself after a packet count or a
 * duration, whichever comes first (both capped below). Prints one JSON line like
 * scripts/flood-sender.ts: {"sent", "seconds", "pps", "dropped"} (dropped: packets the kernel
 * refused with ENOBUFS/EAGAIN).
 *
 *   junk-sender HOST PORT FILE COUNT SECONDS RATE [SOURCE...]     (RATE 0: as fast as it goes)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_PAYLOADS 4096
#define MAX_LEN 2048
#define MAX_SOURCES 256
#define MAX_COUNT 100000000L
#define MAX_SECONDS 300.0

static unsigned char payloads[MAX_PAYLOADS][MAX_LEN];
static size_t lengths[MAX_PAYLOADS];

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int load(const char *file) {
  FILE *f = fopen(file, "r");
  if (f == NULL) return -1;
  static char line[MAX_LEN * 2 + 4];
  int n = 0;
  while (n < MAX_PAYLOADS && fgets(line, sizeof line, f) != NULL) {
    size_t len = strcspn(line, "\r\n");
    if (len == 0) continue;
    if (len % 2 != 0) break;
    for (size_t i = 0; i < len / 2; i++) {
      int hi = hexval(line[2 * i]), lo = hexval(line[2 * i + 1]);
      if (hi < 0 || lo < 0) {
        fclose(f);
        return -1;
      }
      payloads[n][i] = (unsigned char)(hi * 16 + lo);
    }
    lengths[n++] = len / 2;
  }
  fclose(f);
  return n;
}

/* A UDP socket bound to `source` (or any) and connected to host:port; -1 on failure. */
static int open_socket(const char *host, int port, const char *source) {
  struct sockaddr_in6 to6 = {0}, from6 = {0};
  struct sockaddr_in to4 = {0}, from4 = {0};
  int v6 = strchr(host, ':') != NULL;
  int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  if (s < 0) return -1;
  int buf = 4 << 20;
  setsockopt(s, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (v6) {
    to6.sin6_family = from6.sin6_family = AF_INET6;
    to6.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host, &to6.sin6_addr) != 1) return -1;
    if (source != NULL && (inet_pton(AF_INET6, source, &from6.sin6_addr) != 1 || bind(s, (void *)&from6, sizeof from6) != 0)) return -1;
    if (connect(s, (void *)&to6, sizeof to6) != 0) return -1;
  } else {
    to4.sin_family = from4.sin_family = AF_INET;
    to4.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &to4.sin_addr) != 1) return -1;
    if (source != NULL && (inet_pton(AF_INET, source, &from4.sin_addr) != 1 || bind(s, (void *)&from4, sizeof from4) != 0)) return -1;
    if (connect(s, (void *)&to4, sizeof to4) != 0) return -1;
  }
  return s;
}

int main(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: %s HOST PORT FILE COUNT SECONDS RATE [SOURCE...]\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  long count = atol(argv[4]);
  double seconds = atof(argv[5]);
  double rate = atof(argv[6]);
  if (port <= 0 || port > 65535 || count <= 0 || !(seconds > 0) || rate < 0) {
    fprintf(stderr, "junk-sender: bad PORT, COUNT, SECONDS or RATE\n");
    return 2;
  }
  if (count > MAX_COUNT) count = MAX_COUNT;
  if (seconds > MAX_SECONDS) seconds = MAX_SECONDS;
  int n = load(argv[3]);
  if (n <= 0) {
    fprintf(stderr, "junk-sender: no payloads in %s (one hex payload a line)\n", argv[3]);
    return 2;
  }
  int sockets[MAX_SOURCES];
  int nsock = 0;
  for (int i = 7; i < argc && nsock < MAX_SOURCES; i++) {
    sockets[nsock] = open_socket(host, port, argv[i]);
    if (sockets[nsock++] < 0) {
      fprintf(stderr, "junk-sender: cannot send from %s to %s:%d: %s\n", argv[i], host, port, strerror(errno));
      return 1;
    }
  }
  if (nsock == 0 && (sockets[nsock++] = open_socket(host, port, NULL)) < 0) {
    fprintf(stderr, "junk-sender: cannot send to %s:%d: %s\n", host, port, strerror(errno));
    return 1;
  }

  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  long sent = 0, dropped = 0, next = 0;
  int turn = 0;
  double start = now(), end = start + seconds, t = start;
  while (sent + dropped < count && t < end) {
    long left = count - sent - dropped;
    int batch = left < BATCH ? (int)left : BATCH;
    if (rate > 0) {
      /* Paced: no more than the rate allows by now. */
      long allowed = (long)((t - start) * rate) + 1 - sent - dropped;
      if (allowed <= 0) {
        struct timespec pause = {0, 50000};
        nanosleep(&pause, NULL);
        t = now();
        continue;
      }
      if (allowed < batch) batch = (int)allowed;
    }
    memset(msgs, 0, sizeof(struct mmsghdr) * batch);
    for (int i = 0; i < batch; i++) {
      int p = (int)(next++ % n);
      iov[i].iov_base = payloads[p];
      iov[i].iov_len = lengths[p];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int s = sockets[turn++ % nsock];
    int r = sendmmsg(s, msgs, batch, 0);
    if (r > 0) sent += r;
    if (r < batch) {
      if (r < 0 && errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED && errno != EINTR) {
        fprintf(stderr, "junk-sender: sendmmsg: %s\n", strerror(errno));
        return 1;
      }
      /* The kernel took only part of the batch (or none): count the rest as dropped, go on. */
      dropped += batch - (r > 0 ? r : 0);
    }
    t = now();
  }
  double took = now() - start;
  printf("{\"sent\":%ld,\"seconds\":%.3f,\"pps\":%.0f,\"dropped\":%ld}\n", sent, took, took > 0 ? sent / took : 0.0, dropped);
  return 0;
}
