build-prof/cmd/jrn-ai/config.o: cmd/jrn-ai/config.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
