build-prof/lib/rules-compile.o: lib/rules-compile.c lib/rules-int.h \
 lib/rules.h lib/jrn.h lib/yaml.h
lib/rules-int.h:
lib/rules.h:
lib/jrn.h:
lib/yaml.h:
