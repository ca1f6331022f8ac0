# Writes N generated customer profiles (NDJSON) for timing jrn-segment:
#   awk -v n=100000 -f t/bench/profiles.awk > profiles.ndjson
BEGIN {
	srand(7)
	if (!n)
		n = 100000
	split("trial pro free basic", plan, " ")
	split("VIP|Loyal|At Risk|Hibernating", seg, "|")
	for (i = 0; i < n; i++)
		printf "{\"customerId\":\"c%07d\",\"email\":\"u%d@%s\",\"traits\":{\"plan\":\"%s\"," \
		       "\"totalSpent\":%.2f,\"createdAt\":\"2025-%02d-%02dT10:00:00Z\"," \
		       "\"subscription\":{\"status\":\"%s\"},\"tags\":[\"t%d\",\"t%d\"]}," \
		       "\"rfm\":{\"recency\":%d,\"frequency\":%d,\"monetary\":%.2f,\"score\":%d," \
		       "\"segment\":\"%s\"},\"state\":{\"churnRiskScore\":%.3f,\"engagementLevel\":\"%s\"}," \
		       "\"lastSeenAt\":\"2025-%02d-%02dT12:00:00Z\",\"promotions\":{\"redeemedRatio\":%.2f}}\n",
		       i, i, (i % 3 ? "example.com" : "gmail.com"), plan[1 + int(rand() * 4)],
		       rand() * 2000, 1 + int(rand() * 12), 1 + int(rand() * 28),
		       (rand() < 0.5 ? "active" : "canceled"), int(rand() * 10), int(rand() * 10),
		       int(rand() * 365), int(rand() * 20), rand() * 3000, 10 + int(rand() * 41),
		       seg[1 + int(rand() * 4)], rand(), (rand() < 0.5 ? "high" : "low"),
		       1 + int(rand() * 12), 1 + int(rand() * 28), rand()
}
