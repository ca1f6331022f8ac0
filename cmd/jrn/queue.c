#include "verbs.h"
int verb_queue(int argc, char **argv) { (void)argc; (void)argv; return 2; }
