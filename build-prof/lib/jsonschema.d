build-prof/lib/jsonschema.o: lib/jsonschema.c lib/jsonschema-int.h \
 lib/jsonschema.h lib/jrn.h lib/jsonschema-meta.inc
lib/jsonschema-int.h:
lib/jsonschema.h:
lib/jrn.h:
lib/jsonschema-meta.inc:
