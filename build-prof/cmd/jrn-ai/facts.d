build-prof/cmd/jrn-ai/facts.o: cmd/jrn-ai/facts.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
