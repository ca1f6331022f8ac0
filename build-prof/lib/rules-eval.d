build-prof/lib/rules-eval.o: lib/rules-eval.c lib/rules-int.h lib/rules.h \
 lib/jrn.h
lib/rules-int.h:
lib/rules.h:
lib/jrn.h:
