/* sockdrill: the program's entry, apart from the commands (main.c), so that a test can link
 * them with a main of its own. */
#include "cli.h"

int main(int argc, char **argv) { return sd__cli_main(argc, argv); }
