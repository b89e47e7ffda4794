/*
 * mdata-rt SOCKET COUNT MODE: COUNT request/answer round trips on one connection to SOCKET, from
 * inside a zone, printing "<count> <seconds>". MODE md: the metadata protocol (NEGOTIATE V2, then V2
 * GET sdc:uuid frames, each answer read to its end); MODE echo: the same frame to a server that
 * sends each line back. bench/metadata builds it static and runs it in a zone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char buf[65536];
static size_t have;

/* Read up to and including the next \n; -1 on EOF. */
static int
line(int fd)
{
	for (;;) {
		char *nl = memchr(buf, '\n', have);
		if (nl) {
			size_t n = (size_t)(nl - buf) + 1;
			memmove(buf, buf + n, have - n);
			have -= n;
			return 0;
		}
		ssize_t r = read(fd, buf + have, sizeof(buf) - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
}

int
main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	int count = atoi(argv[2]);
	int md = strcmp(argv[3], "md") == 0;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strncpy(sa.sun_path, argv[1], sizeof(sa.sun_path) - 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		perror("connect");
		return 1;
	}
	if (md) {
		if (write(fd, "NEGOTIATE V2\n", 13) != 13 || line(fd) != 0)
			return 1;
	}
	/* GET sdc:uuid, as mdata-get sends it (request id 0a1b2c3d). */
	const char *req = "V2 25 c0eeb3c6 0a1b2c3d GET c2RjOnV1aWQ=\n";
	size_t len = strlen(req);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < count; i++) {
		if (write(fd, req, len) != (ssize_t)len || line(fd) != 0) {
			fprintf(stderr, "round trip %d failed\n", i);
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%d %.6f\n", count, (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	return 0;
}
