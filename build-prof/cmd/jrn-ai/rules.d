build-prof/cmd/jrn-ai/rules.o: cmd/jrn-ai/rules.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
