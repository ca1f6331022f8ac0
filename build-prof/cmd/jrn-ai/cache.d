build-prof/cmd/jrn-ai/cache.o: cmd/jrn-ai/cache.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
