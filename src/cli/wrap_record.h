/* sockdrill wrap --record: a server's real sessions written as a scenario. */
#ifndef SD_CLI_WRAP_RECORD_H
#define SD_CLI_WRAP_RECORD_H

/* Runs prog (cargv, the environment already set for the preload) with SOCKDRILL_RECORD set,
 * waits for it to end (SIGINT/SIGTERM to us are passed on to it), and writes what its
 * accepted connections carried to outpath as a scenario; port is wrap's {port} (-1: none),
 * which becomes $TARGET_PORT. The exit status: 0 written, 1 nothing recorded, 2 bad input. */
int sd__wrap_record(const char *outpath, const char *prog, char **cargv, int port);

#endif
