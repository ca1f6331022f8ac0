build-prof/cmd/jrn-ai/main.o: cmd/jrn-ai/main.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h cmd/jrn-ai/eval.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
cmd/jrn-ai/eval.h:
