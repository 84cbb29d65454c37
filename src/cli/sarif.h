/* sockdrill --sarif: findings as a SARIF 2.1.0 log (sarif.c), and what a sanitizer's or a fuzz
 * target's report tells of a finding (sarif_finding.c). Used by run, fuzz and wrap --run. */
#ifndef SD_CLI_SARIF_H
#define SD_CLI_SARIF_H

#include <stddef.h>

/* Where a finding is: a file as the user or a report named it, its line and column (0: not
 * known). Under the working directory it becomes a URI relative to %SRCROOT%, which code
 * scanning takes for the repository's root; elsewhere an absolute file: URI. */
struct sd__sarif_where {
	const char *file;
	int line, col;
};

struct sd__sarif;

/* A log of `cmd`'s findings for the report file at path (--sarif), checked now as every report
 * file is (report.h). NULL with the message printed. */
struct sd__sarif *sd__sarif_open(const char *cmd, const char *path);

/* One result of rule `rule` (a kind of finding: "scenario-step-failed", a sanitizer's
 * "heap-buffer-overflow", ...): text says what was found, repro (NULL: none) is the command
 * that reproduces it, where is NULL when no place is known. key holds the stable words that
 * tell it from another result of the rule at the same place (never a time or an address): with
 * them they make its partialFingerprints. Out of memory is remembered: finish then fails. */
void sd__sarif_add(struct sd__sarif *s, const char *rule, const char *text, const char *repro,
		   const struct sd__sarif_where *where, const char *key);

/* %SRCROOT%: the working directory when the log was opened (a build may change it since). */
const char *sd__sarif_root(const struct sd__sarif *s);

/* The log written and freed: 0, or -1 with the message printed. category tells this log's run
 * from other commands' and targets' in code scanning (runs[].automationDetails.id, such as
 * "sockdrill-run/"); ok says whether the command ran to its verdict (invocations[]'s
 * executionSuccessful). */
int sd__sarif_finish(struct sd__sarif *s, const char *category, int ok);
/* Freed, the report file left as it was. */
void sd__sarif_discard(struct sd__sarif *s);

/* ---- sarif_finding.c: a finding as a report on stderr tells it --------------------------- */

/* The rule of the finding a target's or server's stderr (in errpath) reports, into kind: a
 * sanitizer's own word for it ("heap-buffer-overflow", "SEGV", "leak", "data-race",
 * "undefined-behavior"), sockdrill's fuzz driver's ("deadlock", "server-exit",
 * "descriptor-leak", "listener-leak", "oracle"), libFuzzer's ("timeout", "out-of-memory",
 * "deadly-signal", ...). Its one-line text goes into text (size each). 0, or -1 and both ""
 * when the file reports none. */
int sd__finding_kind(const char *errpath, char *kind, char *text, size_t size);

/* The first stack frame of the report in errpath (or a UBSan report's own position) that lies
 * in the code under test: a file that exists under root (sd__sarif_root), and not in
 * sockdrill's own harness (its src/driver/fuzz and src/interpose, which only carry the call or
 * report the finding). 1 with it in *where (its file in buf), else 0. */
int sd__finding_frame(const char *errpath, const char *root, struct sd__sarif_where *where,
		      char *buf, size_t size);

#endif
