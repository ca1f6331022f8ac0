build-prof/lib/tool.o: lib/tool.c lib/jrn.h
lib/jrn.h:
