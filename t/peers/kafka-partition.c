/*
 * kafka-partition: for each line of stdin (a customerId, without its
 * newline) prints "KEY<TAB>KAFKA<TAB>JRN": the partition among N (argv[1],
 * default 8) that librdkafka's murmur2 partitioner gives the key
 * (rd_kafka_msg_partitioner_murmur2, what `kcat -X
 * partitioner=murmur2_random` and Kafka's Java producer use for a keyed
 * record) and the one jrn_partition_of (lib/partition.c) gives it.
 * Built by t/jrn-cluster.bats against Debian's librdkafka-dev: the README's
 * kcat recipe rests on the two columns being equal.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

#include "jrn.h"

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 8;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (n < 1)
		return 2;
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = 0;
		printf("%s\t%d\t%d\n", line,
		       (int)rd_kafka_msg_partitioner_murmur2(NULL, line, (size_t)len, n, NULL, NULL),
		       jrn_partition_of(line, (size_t)len, n));
	}
	free(line);
	return ferror(stdout) ? 1 : 0;
}
