/* The Q&A example's oracle for the server fuzz targets (fuzz/qa_oracle.c). */
#ifndef SD_QA_ORACLE_H
#define SD_QA_ORACLE_H

#include <stddef.h>

extern const char *const sd_qa_requests[];
extern const size_t sd_qa_nrequests;
int sd_qa_check(int which, const unsigned char *req, size_t reqlen, const unsigned char *reply,
		size_t replylen);

#endif
