/* sockdrill CLI: subcommand dispatch, --help and --version. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sockdrill/sockdrill.h>

#include "cli.h"
#include "fuzz_target.h"
#include "proc.h"

static int cmd_list(int argc, char **argv);

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"run", sd__cmd_run, "run scenario files on sim, real or both"},
	{"wrap", sd__cmd_wrap, "run a program with faults injected into its TCP sockets"},
	{"fuzz", sd__cmd_fuzz, "fuzz a target with libFuzzer or AFL++, time-boxed"},
	{"repro", sd__cmd_repro, "replay a fuzz input and show the calls that led to it"},
	{"list", cmd_list, "list the registered backends"},
	{"demo", sd__cmd_demo, "run the question/answer server against many concurrent clients"},
};

int sd__usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "sockdrill%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return SD_EXIT_USAGE;
}

int sd__parse_num(const char *cmd, const char *opt, const char *text, uint64_t min, uint64_t max,
		  uint64_t *out)
{
	char *end;
	unsigned long long v;
	if (!text || !*text || *text == '-' || *text == '+' || *text == ' ')
		goto bad;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno || *end || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	sd__usage_error(cmd, "%s expects a whole number from %llu to %llu, got '%s'", opt,
			(unsigned long long)min, (unsigned long long)max, text ? text : "");
	return -1;
}

/* One word for the shell: as it is when every character is safe there, else in single quotes,
 * each ' inside written as '\'' (close, an escaped quote, reopen). '=' counts as unsafe: a
 * first word holding one would be taken for an assignment. */
static void shell_word(FILE *f, const char *w)
{
	static const char safe[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				   "0123456789@%+:,./_-";
	if (*w && w[strspn(w, safe)] == 0) {
		fputs(w, f);
		return;
	}
	fputc('\'', f);
	for (; *w; w++)
		if (*w == '\'')
			fputs("'\\''", f);
		else
			fputc(*w, f);
	fputc('\'', f);
}

int sd__find_library(const char *env, const char *file, char *out, size_t size)
{
	const char *given = getenv(env);
	char exe[PATH_MAX];
	if (given && *given) {
		snprintf(out, size, "%s", given);
		return access(out, R_OK) == 0 ? 0 : -1;
	}
	if (sd__proc_self_exe(exe, sizeof exe) < 0)
		return -1;
	const char *dir = dirname(exe);
	static const char *const rel[] = {"", "/../lib", "/../lib64", "/../lib/x86_64-linux-gnu"};
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		int k = snprintf(out, size, "%s%s/%s", dir, rel[i], file);
		if (k > 0 && (size_t)k < size && access(out, R_OK) == 0)
			return 0;
	}
	return -1;
}

void sd__json_byte(FILE *f, unsigned char c)
{
	if (c == '"' || c == '\\')
		fprintf(f, "\\%c", c);
	else if (c == '\n')
		fputs("\\n", f);
	else if (c < 0x20 || c == 0x7f)
		fprintf(f, "\\u%04x", c);
	else
		fputc(c, f);
}

char *sd__shell_cmd(const char *const argv[])
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	if (!m)
		return NULL;
	for (int i = 0; argv[i]; i++) {
		if (i)
			fputc(' ', m);
		shell_word(m, argv[i]);
	}
	if (fclose(m) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sockdrill [--help] [--version] COMMAND [ARGS]\n\n"
		   "TCP socket behaviour, made reproducible, fuzzable and checkable.\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-6s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'sockdrill COMMAND --help' describes one command.\n"
		   "exit status: 0 ok, 1 a check failed, 2 usage or input error.\n");
}

static void print_profile(const char *name, const struct sd_sim_profile *p)
{
	printf("%-11s syn_retries=%d syn_linear_timeouts=%d hz=%d ports=%d-%d somaxconn=%d "
	       "wmem_max=%d rmem_max=%d wmem=%d rmem=%d fin_timeout=%d\n",
	       name, p->syn_retries, p->syn_linear_timeouts, p->hz, p->port_lo, p->port_hi,
	       p->somaxconn, p->wmem_max, p->rmem_max, p->wmem_def, p->rmem_def, p->fin_timeout);
	/* a second line of fields, so the first stays as scripts read it */
	printf("            tcp_rmem_max=%d tcp_peek_off=%d tw_reuse=%d tw_reuse_delay=%d "
	       "notsent_lowat=%d\n"
	       "            %s\n",
	       p->tcp_rmem_max, p->tcp_peek_off, p->tw_reuse, p->tw_reuse_delay, p->notsent_lowat,
	       p->source);
}

static const char list_help[] =
	"usage: sockdrill list [--targets | --sanitizer-marks]\n\n"
	"Lists the backends registered in this build, one per line: name, then table version;\n"
	"then the sim's kernel profiles (sim option profile=NAME, 'sockdrill run --profile\n"
	"NAME'), three lines each: name and its tunables, more tunables, its source. 'host'\n"
	"reads this machine's (its lines come last).\n"
	"  --targets          the built-in fuzz targets instead (fuzz/targets.txt), one per\n"
	"                     line: name, kind, max_len, expected outcome\n"
	"  --sanitizer-marks  the lines that start a sanitizer's report instead, one per line:\n"
	"                     what wrap --run, repro and the Python fixture look for\n";

static int cmd_list(int argc, char **argv)
{
	const struct sd_ops *o;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(list_help, stdout);
			return SD_EXIT_OK;
		}
		if (argc == 2 && strcmp(argv[i], "--targets") == 0) {
			sd__fuzz_list_targets(stdout);
			return SD_EXIT_OK;
		}
		if (argc == 2 && strcmp(argv[i], "--sanitizer-marks") == 0) {
			const char *m;
			for (int k = 0; (m = sd__sanitizer_mark(k)) != NULL; k++)
				printf("%s\n", m);
			return SD_EXIT_OK;
		}
		return sd__usage_error("list", "unexpected argument '%s'", argv[i]);
	}
	for (size_t i = 0; (o = sd_backend_at(i)) != NULL; i++)
		printf("%-8s version %d\n", o->name, o->version);
	const struct sd_sim_profile *p;
	printf("profiles of the sim (the first is the default; 'host' is this machine's):\n");
	for (int i = 0; (p = sd_sim_profile_at(i)) != NULL; i++)
		print_profile(p->name, p);
	struct sd_sim_profile host;
	char err[160] = "";
	int rc = sd_sim_profile_host(&host, err, sizeof err);
	if (rc < 0)
		printf("host        (cannot be read: %s)\n", err[0] ? err : strerror(-rc));
	else
		print_profile("host", &host);
	return SD_EXIT_OK;
}

int sd__cli_main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return SD_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return SD_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("sockdrill %s\n", sd_version());
		return SD_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		int rc = commands[i].run(argc - 1, argv + 1);
		/* flushed now, not by exit(): a sanitizer report at exit ends the process before
		 * stdio's own flush, and an output that could not be written is an error */
		if (fflush(stdout) != 0 && rc == SD_EXIT_OK)
			rc = sd__usage_error(NULL, "cannot write the output: %s", strerror(errno));
		return rc;
	}
	if (argv[1][0] == '-')
		return sd__usage_error(NULL, "unknown option '%s' (try 'sockdrill --help')",
				       argv[1]);
	return sd__usage_error(NULL, "unknown command '%s' (try 'sockdrill --help')", argv[1]);
}
