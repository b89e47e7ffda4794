/*
 * zonix-respawn PROGRAM [ARG...]: run PROGRAM, and run it again when it dies of a signal or exits
 * with an error (after 100 ms, doubling to at most 5 s while it keeps dying within 10 s of its
 * start). SIGTERM and SIGINT are passed on; once PROGRAM exits after one, or exits 0 on its own, so
 * does zonix-respawn. It keeps the host's metadata process (zonix-metadata) up without a Node
 * process of its own. Built by scripts/build.mjs into dist/.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;
static volatile pid_t child = 0;

static void
on_signal(int sig)
{
	stopping = 1;
	if (child > 0)
		kill(child, sig);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "Usage: zonix-respawn PROGRAM [ARG...]\n");
		return 2;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	long delay_ms = 100;
	for (;;) {
		time_t started = time(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("zonix-respawn: fork");
			sleep(1);
			continue;
		}
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			execv(argv[1], argv + 1);
			perror("zonix-respawn: exec");
			_exit(127);
		}
		child = pid;
		if (stopping)
			kill(pid, SIGTERM);
		int status = 0;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		child = 0;
		if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
			return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			return 127;
		fprintf(stderr, "zonix-respawn: %s %s %d; starting it again\n", argv[1],
		    WIFSIGNALED(status) ? "died of signal" : "exited", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		delay_ms = time(NULL) - started > 10 ? 100 : (delay_ms * 2 > 5000 ? 5000 : delay_ms * 2);
		struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000};
		while (!stopping && nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		if (stopping)
			return 0;
	}
}
