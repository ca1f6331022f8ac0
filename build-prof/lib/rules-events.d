build-prof/lib/rules-events.o: lib/rules-events.c lib/rules-int.h \
 lib/rules.h lib/jrn.h
lib/rules-int.h:
lib/rules.h:
lib/jrn.h:
