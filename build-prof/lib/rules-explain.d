build-prof/lib/rules-explain.o: lib/rules-explain.c lib/rules-int.h \
 lib/rules.h lib/jrn.h
lib/rules-int.h:
lib/rules.h:
lib/jrn.h:
