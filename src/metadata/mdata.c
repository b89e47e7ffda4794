/*
 * mdata-get, mdata-put, mdata-delete and mdata-list for Zonix zones: one static program, named by
 * how it is called (argv[0]). It speaks the SmartOS metadata protocol (V2 frames after a
 * `NEGOTIATE V2`, V1 lines otherwise) over the zone's socket (/native/.zonecontrol/metadata.sock in
 * lx zones, /.zonecontrol/metadata.sock in joyent ones) or, where there is none, the serial-like
 * /dev/ttyS1. Output, messages and exit codes are those of SmartOS's mdata-client: 0 done, 1 no such
 * key, 2 error, 3 usage. A request whose answer does not come (the server restarted) is sent again
 * on a new connection.
 *
 * Called as dmidecode, it answers `dmidecode -s KEYWORD` for the zone (which has no SMBIOS) as
 * SmartOS's guests' firmware would: product "SmartDC HVM", the VM's UUID.
 *
 * Built by scripts/build.mjs (cc -static) into native/usr/sbin, which every zone sees read-only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum { EX_OK = 0, EX_NOTFOUND = 1, EX_ERROR = 2, EX_USAGE = 3 };
enum { R_SUCCESS, R_NOTFOUND, R_FAILURE, R_INVALID };

static const char *SOCKETS[] = {
    "/native/.zonecontrol/metadata.sock",
    "/.zonecontrol/metadata.sock",
    "/var/run/smartdc/metadata.sock",
};
#define SERIAL_DEVICE "/dev/ttyS1"
#define V1_TIMEOUT_MS 6000
#define V2_TIMEOUT_MS 45000
/* How long a client keeps trying to reach a server that is not there (restarting): 60 s. */
#define MAX_ATTEMPTS 60

/* ---- growable strings ------------------------------------------------------------------------ */

typedef struct {
	char *p;
	size_t len, cap;
} str_t;

static void
str_reserve(str_t *s, size_t more)
{
	if (s->len + more + 1 <= s->cap)
		return;
	size_t cap = s->cap ? s->cap : 256;
	while (cap < s->len + more + 1)
		cap *= 2;
	char *p = realloc(s->p, cap);
	if (p == NULL) {
		fprintf(stderr, "ERROR: out of memory\n");
		exit(EX_ERROR);
	}
	s->p = p;
	s->cap = cap;
}

static void
str_addn(str_t *s, const char *d, size_t n)
{
	str_reserve(s, n);
	memcpy(s->p + s->len, d, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void
str_add(str_t *s, const char *d)
{
	str_addn(s, d, strlen(d));
}

static void
str_reset(str_t *s)
{
	s->len = 0;
	if (s->p)
		s->p[0] = '\0';
}

static const char *
str_c(str_t *s)
{
	return s->p ? s->p : "";
}

/* ---- base64 and CRC-32 ----------------------------------------------------------------------- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
b64_encode(const unsigned char *in, size_t n, str_t *out)
{
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		char q[4] = {B64[(v >> 18) & 63], B64[(v >> 12) & 63], i + 1 < n ? B64[(v >> 6) & 63] : '=',
		    i + 2 < n ? B64[v & 63] : '='};
		str_addn(out, q, 4);
	}
}

static int
b64_value(char c)
{
	const char *p = strchr(B64, c);
	return c != '\0' && p != NULL ? (int)(p - B64) : -1;
}

/* 0 when `in` is base64 (decoded into out), -1 otherwise. */
static int
b64_decode(const char *in, size_t n, str_t *out)
{
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '=')
			break;
		int v = b64_value(in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			char c = (char)((acc >> bits) & 0xff);
			str_addn(out, &c, 1);
		}
	}
	return 0;
}

static uint32_t
crc32_of(const char *d, size_t n)
{
	static uint32_t table[256];
	if (table[1] == 0) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	uint32_t crc = 0xFFFFFFFFu;
	for (size_t i = 0; i < n; i++)
		crc = table[(crc ^ (unsigned char)d[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xFFFFFFFFu;
}

/* ---- transport ------------------------------------------------------------------------------- */

typedef struct {
	int fd;
	int serial;
	int version;
	str_t in; /* bytes read and not yet consumed as lines */
} conn_t;

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
send_all(conn_t *c, const char *d, size_t n)
{
	while (n > 0) {
		ssize_t w = write(c->fd, d, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		d += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The next line (without its \n) into `line` within `timeout_ms`: 0, or -1 (timeout, EOF, error). */
static int
recv_line(conn_t *c, str_t *line, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		char *nl = c->in.len ? memchr(c->in.p, '\n', c->in.len) : NULL;
		if (nl != NULL) {
			size_t n = (size_t)(nl - c->in.p);
			str_reset(line);
			str_addn(line, c->in.p, n);
			while (line->len && (line->p[line->len - 1] == '\r' || line->p[line->len - 1] == ' '))
				line->p[--line->len] = '\0';
			memmove(c->in.p, nl + 1, c->in.len - n - 1);
			c->in.len -= n + 1;
			c->in.p[c->in.len] = '\0';
			return 0;
		}
		long long left = deadline - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		char buf[4096];
		ssize_t got = read(c->fd, buf, sizeof(buf));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return -1;
		str_addn(&c->in, buf, (size_t)got);
	}
}

static void
conn_close(conn_t *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	str_reset(&c->in);
}

/*
 * Open the zone's transport and agree on the version. 0 done; -1 with *perm set when there is no
 * transport at all (no socket, no serial device), -1 alone when it may come (a server restarting).
 */
static int
conn_open(conn_t *c, int *perm, const char **why)
{
	struct stat st;
	int found = 0;
	*perm = 0;
	c->fd = -1;
	c->serial = 0;
	str_reset(&c->in);
	for (size_t i = 0; i < sizeof(SOCKETS) / sizeof(SOCKETS[0]); i++) {
		if (stat(SOCKETS[i], &st) != 0 || !S_ISSOCK(st.st_mode))
			continue;
		found = 1;
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", SOCKETS[i]);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			c->fd = fd;
			break;
		}
		*why = strerror(errno);
		close(fd);
	}
	if (c->fd < 0 && !found && stat(SERIAL_DEVICE, &st) == 0) {
		found = 1;
		int fd = open(SERIAL_DEVICE, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0) {
			*why = strerror(errno);
			return -1;
		}
		struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
		while (fcntl(fd, F_SETLKW, &fl) < 0 && errno == EINTR)
			;
		struct termios t;
		if (tcgetattr(fd, &t) == 0) {
			cfmakeraw(&t);
			tcsetattr(fd, TCSANOW, &t);
		}
		tcflush(fd, TCIOFLUSH);
		c->fd = fd;
		c->serial = 1;
	}
	if (c->fd < 0) {
		if (!found) {
			*perm = 1;
			*why = "no metadata socket or serial device in this zone";
		}
		return -1;
	}
	str_t line = {0};
	if (c->serial) {
		/* Reset: an empty line gets "invalid command" from a server that listens. */
		if (send_all(c, "\n", 1) != 0 || recv_line(c, &line, 2000) != 0 ||
		    strcmp(str_c(&line), "invalid command") != 0) {
			*why = "no answer on " SERIAL_DEVICE;
			free(line.p);
			conn_close(c);
			return -1;
		}
	}
	if (send_all(c, "NEGOTIATE V2\n", 13) != 0 || recv_line(c, &line, V1_TIMEOUT_MS) != 0) {
		*why = "no answer to NEGOTIATE";
		free(line.p);
		conn_close(c);
		return -1;
	}
	c->version = strcmp(str_c(&line), "V2_OK") == 0 ? 2 : 1;
	free(line.p);
	return 0;
}

/* Open, trying again each second while the server may come back. */
static void
conn_open_retrying(conn_t *c)
{
	const char *why = "unknown error";
	int perm = 0;
	for (int attempt = 0;; attempt++) {
		if (conn_open(c, &perm, &why) == 0)
			return;
		if (perm || attempt + 1 >= MAX_ATTEMPTS) {
			fprintf(stderr, "ERROR: could not initialise protocol: %s\n", why);
			exit(EX_ERROR);
		}
		sleep(1);
	}
}

/* ---- requests -------------------------------------------------------------------------------- */

/* One V2 request; -1 when no answer came. */
static int
request_v2(conn_t *c, const char *cmd, const char *arg, int *code, str_t *value)
{
	char reqid[9];
	unsigned int r = 0;
	int ufd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (ufd < 0 || read(ufd, &r, sizeof(r)) != sizeof(r))
		r = (unsigned int)(now_ms() ^ getpid());
	if (ufd >= 0)
		close(ufd);
	snprintf(reqid, sizeof(reqid), "%08x", r);
	str_t body = {0}, frame = {0}, line = {0};
	str_add(&body, reqid);
	str_add(&body, " ");
	str_add(&body, cmd);
	if (arg != NULL) {
		str_add(&body, " ");
		b64_encode((const unsigned char *)arg, strlen(arg), &body);
	}
	char head[64];
	snprintf(head, sizeof(head), "V2 %zu %08x ", body.len, crc32_of(str_c(&body), body.len));
	str_add(&frame, head);
	str_addn(&frame, str_c(&body), body.len);
	str_add(&frame, "\n");
	int ret = -1;
	if (send_all(c, str_c(&frame), frame.len) != 0)
		goto out;
	long long deadline = now_ms() + V2_TIMEOUT_MS;
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0 || recv_line(c, &line, (int)left) != 0)
			goto out;
		/* V2 <len> <crc> <reqid> <code> [<payload>]: anything else, or another reqid, is skipped. */
		const char *l = str_c(&line);
		size_t len;
		unsigned int crc;
		int off = 0;
		if (sscanf(l, "V2 %zu %x %n", &len, &crc, &off) != 2 || off == 0)
			continue;
		const char *b = l + off;
		if (strlen(b) != len || crc32_of(b, len) != crc || strncmp(b, reqid, 8) != 0 || b[8] != ' ')
			continue;
		const char *rc = b + 9;
		const char *sp = strchr(rc, ' ');
		size_t rclen = sp ? (size_t)(sp - rc) : strlen(rc);
		str_reset(value);
		if (sp != NULL && b64_decode(sp + 1, strlen(sp + 1), value) != 0)
			continue;
		if (rclen == 7 && strncmp(rc, "SUCCESS", 7) == 0)
			*code = R_SUCCESS;
		else if (rclen == 8 && strncmp(rc, "NOTFOUND", 8) == 0)
			*code = R_NOTFOUND;
		else {
			*code = R_FAILURE;
			if (value->len == 0)
				str_addn(value, rc, rclen);
		}
		ret = 0;
		break;
	}
out:
	free(body.p);
	free(frame.p);
	free(line.p);
	return ret;
}

/* One V1 request (GET, KEYS); -1 when no answer came. */
static int
request_v1(conn_t *c, const char *cmd, const char *arg, int *code, str_t *value)
{
	str_t req = {0}, line = {0};
	str_add(&req, cmd);
	if (arg != NULL) {
		str_add(&req, " ");
		str_add(&req, arg);
	}
	str_add(&req, "\n");
	int ret = -1;
	str_reset(value);
	if (send_all(c, str_c(&req), req.len) != 0 || recv_line(c, &line, V1_TIMEOUT_MS) != 0)
		goto out;
	const char *l = str_c(&line);
	if (strcmp(l, "SUCCESS") == 0) {
		int first = 1;
		for (;;) {
			if (recv_line(c, &line, V1_TIMEOUT_MS) != 0)
				goto out;
			l = str_c(&line);
			if (strcmp(l, ".") == 0)
				break;
			if (!first)
				str_add(value, "\n");
			str_add(value, l[0] == '.' ? l + 1 : l);
			first = 0;
		}
		*code = R_SUCCESS;
	} else if (strcmp(l, "NOTFOUND") == 0) {
		*code = R_NOTFOUND;
	} else if (strcmp(l, "invalid command") == 0) {
		*code = R_INVALID;
	} else {
		*code = R_FAILURE;
		str_add(value, l);
	}
	ret = 0;
out:
	free(req.p);
	free(line.p);
	return ret;
}

/* A request, sent again on a new connection until it is answered. */
static void
execute(conn_t *c, const char *cmd, const char *arg, int *code, str_t *value)
{
	for (int attempt = 0;; attempt++) {
		int r = c->version == 2 ? request_v2(c, cmd, arg, code, value)
		                        : request_v1(c, cmd, arg, code, value);
		if (r == 0)
			return;
		if (attempt + 1 >= MAX_ATTEMPTS) {
			fprintf(stderr, "ERROR: could not execute %s\n", cmd);
			exit(EX_ERROR);
		}
		fprintf(stderr, "receive timeout, resetting protocol...\n");
		conn_close(c);
		conn_open_retrying(c);
	}
}

/* ---- the four tools -------------------------------------------------------------------------- */

static int
usage(const char *name, const char *argv0, const char *args)
{
	fprintf(stderr, "%s: Usage: %s %s\n", name, argv0, args);
	return EX_USAGE;
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	conn_t c = {.fd = -1};
	str_t value = {0};
	int code = R_FAILURE;

	if (strcmp(name, "mdata-get") == 0) {
		if (argc < 2)
			return usage(name, argv[0], "<keyname>");
		conn_open_retrying(&c);
		execute(&c, "GET", argv[1], &code, &value);
		switch (code) {
		case R_SUCCESS:
			fwrite(str_c(&value), 1, value.len, stdout);
			if (value.len < 1 || value.p[value.len - 1] != '\n')
				fputc('\n', stdout);
			return EX_OK;
		case R_NOTFOUND:
			fprintf(stderr, "No metadata for '%s'\n", argv[1]);
			return EX_NOTFOUND;
		case R_INVALID:
			fprintf(stderr, "ERROR: host does not support GET\n");
			return EX_ERROR;
		default:
			fprintf(stderr, "Error getting metadata for key '%s': %s\n", argv[1], str_c(&value));
			return EX_ERROR;
		}
	}
	if (strcmp(name, "mdata-list") == 0) {
		conn_open_retrying(&c);
		execute(&c, "KEYS", NULL, &code, &value);
		switch (code) {
		case R_SUCCESS:
			fwrite(str_c(&value), 1, value.len, stdout);
			if (value.len >= 1 && value.p[value.len - 1] != '\n')
				fputc('\n', stdout);
			return EX_OK;
		case R_NOTFOUND:
			fprintf(stderr, "No metadata\n");
			return EX_NOTFOUND;
		case R_INVALID:
			fprintf(stderr, "ERROR: host does not support KEYS\n");
			return EX_ERROR;
		default:
			fprintf(stderr, "Error getting metadata: %s\n", str_c(&value));
			return EX_ERROR;
		}
	}
	if (strcmp(name, "mdata-put") == 0 || strcmp(name, "mdata-delete") == 0) {
		int put = name[6] == 'p';
		if (argc < 2)
			return usage(name, argv[0], put ? "<keyname> [ <value> ]" : "<keyname>");
		str_t arg = {0};
		if (put) {
			str_t data = {0};
			if (argc >= 3) {
				str_add(&data, argv[2]);
			} else {
				if (isatty(STDIN_FILENO)) {
					fprintf(stderr, "ERROR: either specify the metadata value as the second "
					                "command-line argument, or pipe content to stdin.\n");
					return EX_ERROR;
				}
				char buf[4096];
				size_t n;
				while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
					str_addn(&data, buf, n);
				if (ferror(stdin)) {
					fprintf(stderr, "ERROR: could not read from stdin: %s\n", strerror(errno));
					return EX_ERROR;
				}
			}
			b64_encode((const unsigned char *)argv[1], strlen(argv[1]), &arg);
			str_add(&arg, " ");
			b64_encode((const unsigned char *)str_c(&data), data.len, &arg);
		} else {
			str_add(&arg, argv[1]);
		}
		conn_open_retrying(&c);
		if (c.version < 2) {
			fprintf(stderr, "ERROR: host does not support %s\n", put ? "PUT" : "DELETE");
			return EX_ERROR;
		}
		execute(&c, put ? "PUT" : "DELETE", str_c(&arg), &code, &value);
		switch (code) {
		case R_SUCCESS:
			return EX_OK;
		case R_NOTFOUND:
			fprintf(stderr, "No metadata for '%s'\n", argv[1]);
			return EX_NOTFOUND;
		case R_INVALID:
			fprintf(stderr, "ERROR: host does not support %s\n", put ? "PUT" : "DELETE");
			return EX_ERROR;
		default:
			if (put)
				fprintf(stderr, "Error putting metadata for key '%s': %s\n", argv[1], str_c(&value));
			else
				fprintf(stderr, "Error deleting metadata key '%s': %s\n", argv[1], str_c(&value));
			return EX_ERROR;
		}
	}
	if (strcmp(name, "dmidecode") == 0) {
		/*
		 * A zone has no SMBIOS. Its system, as dmidecode -s reports it, is what SmartOS gives its
		 * guests (product "SmartDC HVM", the VM's UUID), which is how guest software such as
		 * cloud-init recognises the platform.
		 */
		if (argc == 3 && (strcmp(argv[1], "-s") == 0 || strcmp(argv[1], "--string") == 0)) {
			const char *k = argv[2];
			if (strcmp(k, "system-manufacturer") == 0 || strcmp(k, "bios-vendor") == 0 ||
			    strcmp(k, "chassis-manufacturer") == 0 || strcmp(k, "baseboard-manufacturer") == 0) {
				puts("Joyent");
				return EX_OK;
			}
			if (strcmp(k, "system-product-name") == 0 || strcmp(k, "baseboard-product-name") == 0) {
				puts("SmartDC HVM");
				return EX_OK;
			}
			if (strcmp(k, "system-version") == 0 || strcmp(k, "bios-version") == 0) {
				puts("Zonix");
				return EX_OK;
			}
			if (strcmp(k, "system-uuid") == 0 || strcmp(k, "system-serial-number") == 0) {
				conn_open_retrying(&c);
				execute(&c, "GET", "sdc:uuid", &code, &value);
				if (code != R_SUCCESS)
					return EX_ERROR;
				printf("%s\n", str_c(&value));
				return EX_OK;
			}
			fprintf(stderr, "Invalid string keyword: %s\n", k);
			return 1;
		}
		puts("# dmidecode (Zonix)\n# No SMBIOS nor DMI entry point found, sorry.");
		return EX_OK;
	}
	fprintf(stderr, "%s: call me as mdata-get, mdata-put, mdata-delete or mdata-list\n", name);
	return EX_USAGE;
}
