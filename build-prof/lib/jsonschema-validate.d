build-prof/lib/jsonschema-validate.o: lib/jsonschema-validate.c \
 lib/jsonschema-int.h lib/jsonschema.h lib/jrn.h
lib/jsonschema-int.h:
lib/jsonschema.h:
lib/jrn.h:
