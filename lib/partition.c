/* partition.c: the partition a customer's records belong to, the same
 * function as Kafka's default keyed partitioner, so that any Kafka producer
 * (and kcat -X partitioner=murmur2) and jrn agree on where a customer is. */
#include "jrn.h"

/* MurmurHash2, 32-bit, as Kafka's org.apache.kafka.common.utils.Utils.murmur2
 * (Austin Appleby's MurmurHash2 with m = 0x5bd1e995, r = 24, the length
 * mixed into the seed; bytes read little-endian). */
uint32_t jrn_murmur2(const void *p, size_t n, uint32_t seed)
{
	const unsigned char *d = p;
	const uint32_t m = 0x5bd1e995u;
	uint32_t h = seed ^ (uint32_t)n;
	size_t i = 0;

	for (; i + 4 <= n; i += 4) {
		uint32_t k = (uint32_t)d[i] | (uint32_t)d[i + 1] << 8 |
			     (uint32_t)d[i + 2] << 16 | (uint32_t)d[i + 3] << 24;
		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (n - i) {
	case 3:
		h ^= (uint32_t)d[i + 2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)d[i + 1] << 8;
		/* fall through */
	case 1:
		h ^= d[i];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

int jrn_partition_of(const char *id, size_t len, int n)
{
	if (n <= 0)
		return -1;
	return (int)((jrn_murmur2(id, len, JRN_MURMUR2_SEED) & 0x7fffffffu) % (uint32_t)n);
}
