-- jrn-score rfm as one SQL statement, for the benchmark and the tests: the
-- same records from the same state file. Parameters (sqlite3 shell:
-- .parameter set @now MS / @window MS): @now defaults to
-- 2026-01-01T00:00:00Z (the bench's and tests' JRN_NOW), @window to 180 days.
-- Output: customer_id|recency|frequency|monetary|r|f|m|score|segment, by id.
WITH
params AS (
  SELECT coalesce(@now, 1767225600000) AS now,
         coalesce(@window, 180 * 86400000) AS win
),
orders AS (
  SELECT customer_id, ts, type, amount FROM events, params
  WHERE type IN ('order.completed', 'order.refunded') AND ts <= now
    AND typeof(amount) IN ('integer', 'real')
),
agg AS (
  SELECT customer_id,
         (now - max(CASE WHEN type = 'order.completed' THEN ts END)) / 86400000 AS recency,
         count(CASE WHEN type = 'order.completed' AND ts > now - win THEN 1 END) AS frequency,
         round(coalesce(sum(CASE WHEN ts <= now - win THEN NULL
                                 WHEN type = 'order.completed' THEN amount
                                 ELSE -abs(amount) END), 0), 4) AS monetary
  FROM orders, params
  GROUP BY customer_id
  HAVING max(type = 'order.completed')
),
ranked AS (
  SELECT customer_id, recency, frequency, monetary,
         1 + 5 * (rank() OVER (ORDER BY recency DESC) - 1) / count(*) OVER () AS r,
         1 + 5 * (rank() OVER (ORDER BY frequency) - 1) / count(*) OVER () AS f,
         1 + 5 * (rank() OVER (ORDER BY monetary) - 1) / count(*) OVER () AS m
  FROM agg
)
SELECT customer_id, recency, frequency, monetary, r, f, m, 4 * r + 3 * f + 3 * m AS score,
       CASE WHEN 4 * r + 3 * f + 3 * m >= 38 THEN 'VIP'
            WHEN 4 * r + 3 * f + 3 * m >= 28 THEN 'Loyal'
            WHEN 4 * r + 3 * f + 3 * m >= 18 THEN 'At Risk'
            ELSE 'Hibernating' END AS segment
FROM ranked
ORDER BY customer_id;
