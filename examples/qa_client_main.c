/* sd-qa-client: asks the example server its one question and prints the answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sockdrill/sockdrill.h>

#include "qa.h"

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char answer[256], buf[64];
	if (argc != 2 || sd_addr_parse(argv[1], 0, &ss, &sl) < 0 ||
	    sd_addr_port((void *)&ss, sl) <= 0) {
		fprintf(stderr,
			"usage: sd-qa-client HOST:PORT   (e.g. 127.0.0.1:8080, [::1]:8080)\n");
		return 2;
	}
	struct sd_net net;
	if (sd_net_open(&net, "real", NULL) < 0)
		return 2;
	int rc = sd_qa_ask(&net, (struct sockaddr *)&ss, sl, answer, sizeof answer);
	sd_net_close(&net);
	if (rc < 0) {
		fprintf(stderr, "sd-qa-client: %s: %s (%s)\n", argv[1], strerror(-rc),
			sd_errname(rc) ? sd_errname(rc) : sd_result_format(rc, buf, sizeof buf));
		return 1;
	}
	fputs(answer, stdout);
	return strcmp(answer, SD_QA_ANSWER) == 0 ? 0 : 1;
}
