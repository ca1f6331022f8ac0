build-prof/cmd/jrn-ai/core.o: cmd/jrn-ai/core.c cmd/jrn-ai/core.h \
 cmd/jrn-ai/jrn-ai.h lib/jrn.h lib/jsonschema.h lib/jrn.h
cmd/jrn-ai/core.h:
cmd/jrn-ai/jrn-ai.h:
lib/jrn.h:
lib/jsonschema.h:
lib/jrn.h:
