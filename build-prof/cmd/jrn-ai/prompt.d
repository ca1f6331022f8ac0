build-prof/cmd/jrn-ai/prompt.o: cmd/jrn-ai/prompt.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
