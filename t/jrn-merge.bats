#!/usr/bin/env bats
# jrn-merge and the profile: identify traits stored by jrn-ingest, aliases
# and merges, and jrn-merge's profile over the state file and file sources.

load helpers

# the seed's sign-up story: an anonymous visitor, identified, then signed up
visitor() {
	cat <<'J'
{"type":"page","anonymousId":"anon-7","timestamp":"2025-06-01T10:00:00Z"}
{"type":"identify","anonymousId":"anon-7","traits":{"email":" Vi@Example.org ","plan":"trial"},"timestamp":"2025-06-01T10:05:00Z"}
{"type":"identify","userId":"u-7","traits":{"email":"vi@example.org","firstName":"Vi","plan":"paid"},"timestamp":"2025-06-02T10:00:00Z"}
J
}

@test "jrn-ingest: identify traits set the profile, newest wins per trait, provenance identify" {
	cat > in.ndjson <<'J'
{"type":"identify","userId":"c1","traits":{"email":"a@x.org","plan":"pro","timezone":"Europe/Paris"},"timestamp":"2025-06-02T00:00:00Z"}
{"type":"identify","userId":"c1","traits":{"plan":"old","name":"Ann"},"timestamp":"2025-06-01T00:00:00Z"}
J
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(rows "SELECT email, time_zone, name FROM profiles WHERE customer_id = 'c1'")" "a@x.org|Europe/Paris|Ann"
	assert_equal "$(rows "SELECT traits FROM profiles")" '{"plan":"pro"}'
	assert_equal "$(rows "SELECT provenance ->> '\$.\"traits.plan\".source' FROM profiles")" identify
	assert_equal "$(rows "SELECT provenance ->> '\$.\"traits.plan\".at' FROM profiles")" 1748822400000
	# the event is stored too, in the same transaction
	assert_equal "$(rows "SELECT count(*) FROM events WHERE type = 'identify'")" 2
}

@test "jrn-ingest: a duplicate identify event is not news" {
	ev identify c1 '"id":"i1","traits":{"plan":"a"}' > in.ndjson
	jrn-ingest -q in.ndjson
	sqlite3 jrn.db "UPDATE profiles SET traits = '{\"plan\":\"hand\"}'"
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(rows "SELECT traits FROM profiles")" '{"plan":"hand"}'
}

@test "jrn-ingest: an anonymous visitor who signs up is merged by e-mail, and alias links ids" {
	visitor > in.ndjson
	echo '{"type":"alias","userId":"u-8","previousId":"u-7","timestamp":"2025-06-03T10:00:00Z"}' >> in.ndjson
	run jrn-ingest -q in.ndjson
	assert_success
	assert_equal "$(rows "SELECT customer_id, email, first_name, traits FROM profiles")" 'u-8|vi@example.org|Vi|{"plan":"paid"}'
	assert_equal "$(rows "SELECT from_id, into_id, reason FROM merges ORDER BY id")" "anon-7|u-7|identify: shared email
u-7|u-8|alias"
	assert_equal "$(rows "SELECT value || '>' || customer_id FROM identities WHERE kind = 'id' ORDER BY value")" "anon-7>u-7
u-7>u-8"
}

@test "jrn-ingest: a value shared by more customers than sources.sharedLimit merges no one" {
	for c in h1 h2 h3; do ev identify $c '"traits":{"phone":"+1 650 253 0000"}'; done > in.ndjson
	printf 'ingest:\n  defaultCountry: US\nsources:\n  sharedLimit: 1\n' > jrn.yaml
	run jrn-ingest -q --config jrn.yaml in.ndjson
	assert_success
	assert_equal "$(rows "SELECT count(*) FROM profiles")" 3
	assert_equal "$(rows "SELECT count(*) FROM merges")" 0
	assert_equal "$(rows "SELECT count(*) FROM identities WHERE kind = 'phone'")" 3
}
