build-prof/cmd/jrn-ai/insights.o: cmd/jrn-ai/insights.c \
 cmd/jrn-ai/jrn-ai.h lib/jrn.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
