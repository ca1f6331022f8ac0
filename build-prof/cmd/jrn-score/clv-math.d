build-prof/cmd/jrn-score/clv-math.o: cmd/jrn-score/clv-math.c \
 cmd/jrn-score/clv-math.h
cmd/jrn-score/clv-math.h:
