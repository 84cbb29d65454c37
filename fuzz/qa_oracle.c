/* The Q&A example's oracle for the server fuzz targets: what clients ask, what is right. */
#include <string.h>

#include "qa.h"

const char *const sd_qa_requests[] = {SD_QA_QUESTION, "What is the time?\n"};
const size_t sd_qa_nrequests = sizeof sd_qa_requests / sizeof sd_qa_requests[0];

/* Whoever asks a question gets exactly its answer line, however the bytes were cut on the
 * way; raw bytes (which = -1) may get any answer. */
int sd_qa_check(int which, const unsigned char *req, size_t reqlen, const unsigned char *reply,
		size_t replylen)
{
	(void)req, (void)reqlen;
	if (which < 0)
		return 0;
	const char *want = which == 0 ? SD_QA_ANSWER : SD_QA_UNKNOWN;
	return replylen != strlen(want) || memcmp(reply, want, replylen) != 0;
}
