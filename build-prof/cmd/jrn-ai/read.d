build-prof/cmd/jrn-ai/read.o: cmd/jrn-ai/read.c cmd/jrn-ai/core.h \
 cmd/jrn-ai/jrn-ai.h lib/jrn.h
cmd/jrn-ai/core.h:
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
