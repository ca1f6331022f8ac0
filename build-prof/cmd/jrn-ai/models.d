build-prof/cmd/jrn-ai/models.o: cmd/jrn-ai/models.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
