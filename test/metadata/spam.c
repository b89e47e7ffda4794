/* A guest gone wrong: opens many connections to the zone's metadata socket and writes garbage on
 * them (random bytes, frames with bad CRCs, endless lines) without ever reading an answer. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	const char *path = argc > 1 ? argv[1] : "/.zonecontrol/metadata.sock";
	int seconds = argc > 2 ? atoi(argv[2]) : 10;
	signal(SIGPIPE, SIG_IGN);
	int fds[40];
	int n = 0;
	for (int i = 0; i < 40; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		strncpy(sa.sun_path, path, sizeof(sa.sun_path) - 1);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			fcntl(fd, F_SETFL, O_NONBLOCK);
			fds[n++] = fd;
		} else close(fd);
	}
	int rnd = open("/dev/urandom", O_RDONLY);
	char buf[65536];
	time_t end = time(NULL) + seconds;
	unsigned long sent = 0;
	for (int k = 0; time(NULL) < end; k++) {
		int fd = fds[k % (n ? n : 1)];
		size_t len;
		switch (k % 4) {
		case 0: len = (size_t)read(rnd, buf, sizeof(buf)); break;
		case 1: len = (size_t)snprintf(buf, sizeof(buf), "V2 25 deadbeef 0a1b2c3d GET c2RjOnV1aWQ=\n"); break;
		case 2: memset(buf, 'A', sizeof(buf)); len = sizeof(buf); break; /* an endless line */
		default: len = (size_t)snprintf(buf, sizeof(buf), "\n\nGET sdc:uuid\nKEYS\n"); break;
		}
		ssize_t w = n ? write(fd, buf, len) : -1;
		if (w > 0) sent += (unsigned long)w;
		else usleep(1000);
	}
	printf("%d connections, %lu bytes sent\n", n, sent);
	return 0;
}
