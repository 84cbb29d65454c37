/* A server that starts, says listening is switched off, and waits for ever without listening:
 * every input of its fuzzer is a harness error, which `sockdrill fuzz` must report (exit 2) on
 * both engines instead of a clean campaign. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	(void)argc, (void)argv;
	fprintf(stderr, "quiet: listening is switched off\n");
	for (;;)
		sleep(60);
}
