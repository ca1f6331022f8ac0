build-prof/lib/config-schema.o: lib/config-schema.c lib/config-int.h \
 lib/jrn.h
lib/config-int.h:
lib/jrn.h:
