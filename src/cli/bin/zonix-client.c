/*
 * zonix-client: runs a Zonix CLI command (`vmadm ...`) in the resident host core, zonixd, so that a
 * command costs the work it does rather than a Node start. It sends the command line, its working
 * folder, its ZONIX_* environment and which of its stdio are terminals over zonixd's socket, relays
 * stdin when the command asks for it, writes what the command prints to its own stdout and stderr,
 * and exits with the command's exit code. When zonixd is not running, or answers "run it yourself"
 * (another configuration or build, or a command that needs the terminal itself: console, send,
 * receive), the command runs in this process instead: the client becomes `node dist/<tool>.cjs ...`.
 *
 * Frames, both ways: one type byte, a 4-byte big-endian length, the payload.
 *   client: H header (JSON), I stdin data (empty: end of input)
 *   server: O stdout data, E stderr data, R "send stdin", X exit code (4 bytes), F "run it yourself"
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef ZONIX_BUILD
#define ZONIX_BUILD "unknown"
#endif

extern char **environ;

static const char *tool;
static char **args;
static int nargs;

/* Run the command in-process: exec Node on the tool's bundle next to this binary. */
static void fallback(void) {
  char self[PATH_MAX], bundle[PATH_MAX + 32];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    perror("zonix-client: /proc/self/exe");
    exit(1);
  }
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (slash) *slash = 0;
  snprintf(bundle, sizeof bundle, "%s/%s.cjs", self, tool);
  char **argv = calloc((size_t)nargs + 3, sizeof *argv);
  if (!argv) exit(1);
  argv[0] = "node";
  argv[1] = bundle;
  for (int i = 0; i < nargs; i++) argv[i + 2] = args[i];
  execvp("node", argv);
  fprintf(stderr, "%s: cannot run node: %s\n", tool, strerror(errno));
  exit(1);
}

/* A growable buffer for the header. */
struct buf {
  char *p;
  size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) exit(1);
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string: control characters and quotes escaped; other bytes pass as they are (UTF-8). */
static void putjson(struct buf *b, const char *s) {
  put(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    char esc[8];
    if (*c == '"' || *c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)*c;
      put(b, esc, 2);
    } else if (*c < 0x20) {
      snprintf(esc, sizeof esc, "\\u%04x", *c);
      put(b, esc, 6);
    } else {
      put(b, (const char *)c, 1);
    }
  }
  put(b, "\"", 1);
}

static int writeall(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

static int sendframe(int fd, char type, const void *p, uint32_t n) {
  unsigned char h[5] = {(unsigned char)type, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                        (unsigned char)(n >> 8), (unsigned char)n};
  if (writeall(fd, h, 5) < 0) return -1;
  return n ? writeall(fd, p, n) : 0;
}

/* Read exactly n bytes; 0 on success, -1 on end or error. */
static int readall(int fd, void *p, size_t n) {
  char *c = p;
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    c += r;
    n -= (size_t)r;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: zonix-client TOOL [ARG...]\n");
    return 2;
  }
  tool = argv[1];
  args = argv + 2;
  nargs = argc - 2;
  const char *dir = getenv("ZONIX_RUN_DIR");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (snprintf(addr.sun_path, sizeof addr.sun_path, "%s/zonixd.sock", dir && *dir ? dir : "/run/zonix") >=
      (int)sizeof addr.sun_path)
    fallback();
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) fallback();
  signal(SIGPIPE, SIG_IGN);

  struct buf h = {0};
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, "/");
  puts_(&h, "{\"v\":1,\"build\":");
  putjson(&h, ZONIX_BUILD);
  puts_(&h, ",\"tool\":");
  putjson(&h, tool);
  puts_(&h, ",\"argv\":[");
  for (int i = 0; i < nargs; i++) {
    if (i) puts_(&h, ",");
    putjson(&h, args[i]);
  }
  puts_(&h, "],\"cwd\":");
  putjson(&h, cwd);
  puts_(&h, ",\"env\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "ZONIX_", 6)) continue;
    char *eq = strchr(*e, '=');
    if (!eq) continue;
    *eq = 0;
    if (!first) puts_(&h, ",");
    first = 0;
    putjson(&h, *e);
    puts_(&h, ":");
    putjson(&h, eq + 1);
    *eq = '=';
  }
  char tty[64];
  snprintf(tty, sizeof tty, "},\"tty\":[%s,%s,%s]}", isatty(0) ? "true" : "false",
           isatty(1) ? "true" : "false", isatty(2) ? "true" : "false");
  puts_(&h, tty);
  if (sendframe(s, 'H', h.p, (uint32_t)h.len) < 0) fallback();
  free(h.p);

  int relay = 0; /* relaying stdin: asked for, not yet at its end */
  char *data = NULL;
  size_t cap = 0;
  for (;;) {
    struct pollfd fds[2] = {{.fd = s, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
    if (poll(fds, relay ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      perror(tool);
      return 1;
    }
    if (relay && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      char in[65536];
      ssize_t n = read(0, in, sizeof in);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        relay = 0;
        sendframe(s, 'I', NULL, 0);
      } else if (sendframe(s, 'I', in, (uint32_t)n) < 0) {
        relay = 0;
      }
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    unsigned char fh[5];
    if (readall(s, fh, 5) < 0) {
      /* The command may have run, or be running: never run it a second time here. */
      fprintf(stderr, "%s: lost the connection to zonixd\n", tool);
      return 1;
    }
    uint32_t n = (uint32_t)fh[1] << 24 | (uint32_t)fh[2] << 16 | (uint32_t)fh[3] << 8 | fh[4];
    if (n > cap) {
      free(data);
      cap = n;
      data = malloc(cap);
      if (!data) return 1;
    }
    if (n && readall(s, data, n) < 0) {
      fprintf(stderr, "%s: lost the connection to zonixd\n", tool);
      return 1;
    }
    switch (fh[0]) {
      case 'O':
        /* A reader that went away (`vmadm list | head`) is no error: exit quietly. */
        if (writeall(1, data, n) < 0) return errno == EPIPE ? 0 : 1;
        break;
      case 'E':
        writeall(2, data, n);
        break;
      case 'R':
        relay = 1;
        break;
      case 'X':
        return n >= 4 ? (int)((uint32_t)(unsigned char)data[0] << 24 | (uint32_t)(unsigned char)data[1] << 16 |
                              (uint32_t)(unsigned char)data[2] << 8 | (unsigned char)data[3])
                      : 1;
      case 'F':
        close(s);
        fallback();
        break;
      default:
        fprintf(stderr, "%s: unexpected answer from zonixd\n", tool);
        return 1;
    }
  }
}
