/*
 * zonix-pty: given a pty master as stdin, unlock it, make its line raw (no echo, no line editing:
 * the metadata protocol is bytes) and print its number. The metadata server (src/metadata/serial.ts)
 * opens the master itself and keeps it; Node has no ioctl. Built by scripts/build.mjs into dist/.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/ioctl.h>
#include <termios.h>

int
main(void)
{
	int unlock = 0, n = -1;
	if (ioctl(0, TIOCSPTLCK, &unlock) != 0 || ioctl(0, TIOCGPTN, &n) != 0) {
		perror("zonix-pty");
		return 1;
	}
	struct termios t;
	if (tcgetattr(0, &t) != 0) {
		perror("zonix-pty: tcgetattr");
		return 1;
	}
	cfmakeraw(&t);
	if (tcsetattr(0, TCSANOW, &t) != 0) {
		perror("zonix-pty: tcsetattr");
		return 1;
	}
	printf("%d\n", n);
	return 0;
}
