/* sockdrill interposition layer: the record file wrap --record reads, and the recorder's hook. */
#ifndef SD_RECORD_H
#define SD_RECORD_H

#include <stdint.h>

#include <sockdrill/sockdrill.h>

/* Bytes one process records at most (docs/scenarios.md, "Recording a session"); past them one
 * SD_REC_CUT record, then nothing. SOCKDRILL_RECORD_MAX may set a lower bound. */
#define SD_REC_MAX_BYTES (16u << 20)

enum sd_rec_kind {
	SD_REC_ACCEPT = 'A',   /* a connection accepted: 2 bytes, its local port; aux the family */
	SD_REC_IN = 'I',       /* bytes the server received */
	SD_REC_OUT = 'O',      /* bytes the server sent */
	SD_REC_EOF = 'E',      /* the server read the end of the stream */
	SD_REC_RESET = 'X',    /* a read (aux 0) or a write (aux 1) failed: reset or broken pipe */
	SD_REC_SHUTDOWN = 'H', /* the server shut its side down: aux SHUT_RD/WR/RDWR */
	SD_REC_CLOSE = 'C',    /* the server closed a descriptor of the connection */
	SD_REC_LINGER0 = 'L', /* the server set SO_LINGER to 0 s: its close resets (aux 1; 0 off) */
	SD_REC_CUT = 'T',     /* the process reached its bound: nothing after this */
};

/* One record: this header, then len bytes. Native byte order: written and read on one host. */
struct sd_rec {
	uint8_t kind; /* enum sd_rec_kind */
	uint8_t pad;
	int16_t aux;
	int32_t pid;   /* the process that made the call */
	int32_t apid;  /* the process that accepted the connection */
	uint32_t conn; /* the connection's number in that process, from 0 */
	uint32_t len;
	uint32_t pad2;
	int64_t t_ns; /* CLOCK_MONOTONIC */
};

/* Whether SOCKDRILL_RECORD asks for a recording (the preload then tracks sockets even with no
 * fault asked). */
int sd__record_wanted(void);
/* The net the program's sockets use: a recorder in front of inner when SOCKDRILL_RECORD names
 * a file, else inner itself. Called once, from the preload's constructor. */
struct sd_net *sd__record_wrap(struct sd_net *inner);

#endif
