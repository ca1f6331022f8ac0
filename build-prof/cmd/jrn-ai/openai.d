build-prof/cmd/jrn-ai/openai.o: cmd/jrn-ai/openai.c cmd/jrn-ai/jrn-ai.h \
 lib/jrn.h cmd/jrn-ai/openai.h lib/http.h lib/jrn.h
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
cmd/jrn-ai/openai.h:
lib/http.h:
lib/jrn.h:
