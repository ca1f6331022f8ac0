build-prof/lib/config.o: lib/config.c lib/config-int.h lib/jrn.h \
 lib/yaml.h
lib/config-int.h:
lib/jrn.h:
lib/yaml.h:
