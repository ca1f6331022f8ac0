-- What jrn-merge --all writes, as one sqlite3 query: the join a user would
-- otherwise run (t/bench/merge.sh times both over the same state file).
WITH ev AS (SELECT customer_id, min(ts) AS f, max(ts) AS l, count(*) AS n
            FROM events GROUP BY customer_id),
     ord AS (SELECT customer_id, count(*) AS n, total(amount) AS t, max(ts) AS l, id, amount
             FROM events WHERE type = 'order.completed' GROUP BY customer_id),
     rfm AS (SELECT * FROM rfm_snapshots WHERE taken = (SELECT max(taken) FROM rfm_snapshots))
SELECT json_object('customerId', ev.customer_id, 'profile', json_object(
  'customerId', ev.customer_id, 'email', p.email, 'phone', p.phone, 'name', p.name,
  'firstName', p.first_name, 'locale', p.locale, 'timeZone', p.time_zone, 'country', p.country,
  'traits', json(coalesce(p.traits, '{}')), 'provenance', json(coalesce(p.provenance, '{}')),
  'consent', (SELECT json_group_object(channel, status) FROM consent c
              WHERE c.customer_id = ev.customer_id),
  'scores', json_patch(coalesce((SELECT json_group_object(kind, json(body)) FROM scores s
                                 WHERE s.customer_id = ev.customer_id), '{}'),
                       coalesce((SELECT json_object('rfm', json_object('recency', recency,
                                 'frequency', frequency, 'monetary', monetary, 'r', r, 'f', f,
                                 'm', m, 'score', score, 'segment', segment))
                                 FROM rfm WHERE rfm.customer_id = ev.customer_id), '{}')),
  'segments', (SELECT json_group_array(segment) FROM segment_members m
               WHERE m.customer_id = ev.customer_id),
  'summary', json_object('events', ev.n,
    'firstSeen', strftime('%Y-%m-%dT%H:%M:%fZ', ev.f / 1000.0, 'unixepoch'),
    'lastSeen', strftime('%Y-%m-%dT%H:%M:%fZ', ev.l / 1000.0, 'unixepoch'),
    'orders', coalesce(o.n, 0), 'orderTotal', coalesce(o.t, 0),
    'lastOrder', CASE WHEN o.id IS NULL THEN NULL ELSE json_object('id', o.id,
      'at', strftime('%Y-%m-%dT%H:%M:%fZ', o.l / 1000.0, 'unixepoch'), 'amount', o.amount) END)))
FROM ev LEFT JOIN ord o USING (customer_id) LEFT JOIN profiles p USING (customer_id)
ORDER BY ev.customer_id;
