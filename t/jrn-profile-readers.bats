#!/usr/bin/env bats
# Every reader of "every customer" reads the profile (lib/profile-read.h):
# jrn-segment --all and jrn-score lead --all see identify traits, the
# unified fields, consent, stored scores and segments, a cart and the
# promotions of the orders, with linked ids folded into their customer;
# jrn-send fills a missing recipient, name and locale from the stored
# profile. Every customer here is built with jrn-ingest only.

load helpers
load peers

# JRN_NOW is 2026-01-01T00:00:00Z (helpers.bash)

# t CUSTOMER WHEN EVENT [PROPERTIES]: a Segment track call
t() {
	printf '{"type":"track","userId":"%s","timestamp":"%s","event":"%s","properties":{%s}}\n' "$1" "$2" "$3" "${4-}"
}

# id CUSTOMER WHEN TRAITS: a Segment identify call
id() {
	printf '{"type":"identify","userId":"%s","timestamp":"%s","traits":{%s}}\n' "$1" "$2" "$3"
}

shop() {
	{
		# new: signed up 2 days ago (identify traits.createdAt -> createdAt)
		id new1 2025-12-30T00:00:00Z '"email":"n1@x.test","createdAt":"2025-12-30T00:00:00Z"'
		id old1 2025-11-01T00:00:00Z '"email":"o1@x.test","createdAt":"2025-11-01T00:00:00Z","plan":"free"'
		# trial, paid
		id tri1 2025-12-20T00:00:00Z '"plan":"trial"'
		id paid1 2025-12-20T00:00:00Z '"plan":"pro","subscription":{"status":"active"}'
		id paid2 2025-12-20T00:00:00Z '"plan":"pro","subscription":{"status":"canceled"}'
		# carts: added 3 h ago, no order; added then ordered; added and removed
		t cart1 2025-12-31T21:00:00Z "Product Added" '"product_id":"p1"'
		t cart2 2025-12-31T20:00:00Z "Product Added" '"product_id":"p1"'
		t cart2 2025-12-31T21:00:00Z "Order Completed" '"order_id":"o-c2","total":10'
		t cart3 2025-12-31T20:00:00Z "Product Added" '"product_id":"p1"'
		t cart3 2025-12-31T21:00:00Z "Product Removed" '"product_id":"p1"'
		# a viewed cart with two products, then one removed
		t cart4 2025-12-31T20:00:00Z "Cart Viewed" '"products":[{"product_id":"a"},{"product_id":"b"}]'
		t cart4 2025-12-31T21:00:00Z "Product Removed" '"product_id":"a"'
		# promotions: 2 of 3 orders with a coupon or a discount; 1 of 3
		t promo1 2025-12-01T00:00:00Z "Order Completed" '"order_id":"p1-1","total":10,"coupon":"XMAS"'
		t promo1 2025-12-02T00:00:00Z "Order Completed" '"order_id":"p1-2","total":10,"discount":2.5'
		t promo1 2025-12-03T00:00:00Z "Order Completed" '"order_id":"p1-3","total":10,"coupon":""'
		t promo2 2025-12-01T00:00:00Z "Order Completed" '"order_id":"p2-1","total":10,"coupon":"XMAS"'
		t promo2 2025-12-02T00:00:00Z "Order Completed" '"order_id":"p2-2","total":10,"discount":0'
		t promo2 2025-12-03T00:00:00Z "Order Completed" '"order_id":"p2-3","total":10,"note":"no coupon here"'
		# lead: identify traits of a CTO at a large tech company
		id lead1 2025-12-20T00:00:00Z '"jobTitle":"CTO","company":{"size":500,"industry":"Technology","revenue":20000000,"country":"US"}'
		id lead2 2025-12-20T00:00:00Z '"jobTitle":"Intern","company":{"size":5}'
	} > shop.ndjson
	jrn-ingest -q shop.ndjson
}

# members SEGMENT: the customers jrn-segment --all puts in SEGMENT, one line
members() {
	jrn-segment -q --all --only "$1" | jq -r .customerId | paste -sd' '
}

@test "shipped segments match customers built with jrn-ingest alone: new, trial, paid_subscribers" {
	shop
	assert_equal "$(members new)" "new1"
	assert_equal "$(members trial)" "tri1"
	assert_equal "$(members paid_subscribers)" "paid1"
	# the record keeps rfm/clv/lead beside the profile's members
	run bash -c "jrn-segment -q --all --only new | jq -c '{email, createdAt, traits}'"
	assert_output '{"email":"n1@x.test","createdAt":"2025-12-30T00:00:00.000Z","traits":{}}'
}

@test "cart_abandoners: the cart from the newest cart events since the last order" {
	shop
	assert_equal "$(members cart_abandoners)" "cart1 cart4"
	run bash -c "jrn-segment -q --all | jq -c 'select(.cart) | [.customerId, .cart]'"
	assert_line --index 0 '["cart1",{"updatedAt":"2025-12-31T21:00:00.000Z","event":"cart.added","items":1}]'
	# an order empties the cart: no items
	assert_line --index 1 '["cart2",{"updatedAt":"2025-12-31T20:00:00.000Z","event":"cart.added"}]'
	assert_line --index 2 '["cart3",{"updatedAt":"2025-12-31T21:00:00.000Z","event":"cart.removed"}]'
	# a viewed cart of two, one removed
	assert_line --index 3 '["cart4",{"updatedAt":"2025-12-31T21:00:00.000Z","event":"cart.removed","items":1}]'
	assert_equal "${#lines[@]}" 4
}

@test "high_discount_sensitivity: the share of orders with a coupon, a discount or a promotion_id" {
	shop
	assert_equal "$(members high_discount_sensitivity)" "promo1"
	run bash -c "jrn-segment -q --all | jq -c 'select(.customerId | startswith(\"promo\")) | .promotions'"
	assert_line --index 0 '{"orders":3,"redeemed":2,"redeemedRatio":0.666667}'
	assert_line --index 1 '{"orders":3,"redeemed":1,"redeemedRatio":0.333333}'
	# a customer without orders has no promotions member
	run bash -c "jrn-segment -q --all --only new | jq -c .promotions"
	assert_output null
}

@test "jrn-score lead --all: demographic and firmographic rules fire on identify traits" {
	shop
	run bash -c "jrn-score lead -q --all | jq -c 'select(.customerId | startswith(\"lead\")) | [.customerId, .lead]'"
	assert_success
	assert_line --index 0 '["lead1",{"score":80,"behavioral":0,"demographic":45,"firmographic":35,"grade":"hot"}]'
	assert_line --index 1 '["lead2",{"score":0,"behavioral":0,"demographic":0,"firmographic":0,"grade":"cold"}]'
}

# a visitor's page views, then the sign-up that links the anonymousId
visitor() {
	cat <<'J'
{"type":"page","anonymousId":"anon-1","timestamp":"2025-12-20T10:00:00Z"}
{"type":"track","anonymousId":"anon-1","event":"Product Added","timestamp":"2025-12-31T22:00:00Z","properties":{"product_id":"p9"}}
{"type":"identify","userId":"u-1","anonymousId":"anon-1","traits":{"email":"u1@x.test","firstName":"Uma","locale":"fr-FR"},"timestamp":"2025-12-31T23:00:00Z"}
J
}

@test "a linked id is no customer of its own: its events, consent, scores and segments fold into the customer" {
	visitor > v.ndjson
	{
		# consent granted by the customer, revoked under the anonymous id: revoked wins
		ev consent.granted u-1 '"properties":{"channel":"email"}'
		ev consent.revoked anon-1 '"properties":{"channel":"email"}'
		ev consent.granted anon-1 '"properties":{"channel":"sms"}'
	} >> v.ndjson
	jrn-ingest -q v.ndjson
	sqlite3 jrn.db "INSERT INTO scores VALUES ('anon-1', 'lead', 5, '{\"score\":5}', 1),
		('u-1', 'clv', 9, '{\"predictedValue\":9}', 2), ('anon-1', 'clv', 1, '{\"predictedValue\":1}', 3);
		INSERT INTO segment_members VALUES ('active', 'anon-1', 1), ('vip', 'u-1', 1)"
	run jrn-segment -q --all --only active
	assert_success
	assert_equal "${#lines[@]}" 1
	run jq -c '[.customerId, .consent, .lead, .clv, .summary.events, .cart.items]' <<<"$output"
	assert_output '["u-1",{"email":"revoked","sms":"granted"},{"score":5},{"predictedValue":9},6,1]'
	# the stored memberships: the union (jrn-merge shows them; jrn-segment replaces them)
	run bash -c "jrn-merge -q --all | jq -c '[.customerId, .profile.segments, .profile.scores.clv]'"
	assert_output '["u-1",["active","vip"],{"predictedValue":9}]'
	# record mode reads the same profile as --all
	assert_equal "$(echo '{"customerId":"u-1"}' | jrn-merge -q | jq -c .profile)" "$(jrn-merge -q --all | jq -c .profile)"
	# the event leaf counts the anonymous page view for u-1 (active: a page view in 30 days)
	run bash -c "jrn-segment -q --all --only active --trace 2>&1 >/dev/null | grep -c 'page.viewed'"
	assert_output 1
	# lead scoring counts the visitor's page view and cart for the customer
	run bash -c "jrn-score lead -q --all | jq -c '.lead | [.behavioral]'"
	assert_output '[11]'
}

@test "jrn-send --dry-run: a missing recipient comes from the stored profile, through id links; the record's own first" {
	visitor > v.ndjson
	jrn-ingest -q v.ndjson
	mail() {
		printf '{"actionType":"email","customerId":"%s","campaignId":"c","subject":"Hi","messageContent":"Hello"%s}\n' "$1" "${2:+,$2}"
	}
	{
		mail u-1
		mail anon-1
		mail nobody
		mail u-1 '"recipientEmail":"bad address"'
		mail u-1 '"profile":{"email":"also bad"}'
	} > a.ndjson
	run --separate-stderr jrn-send --dry-run a.ndjson
	assert_failure 3
	run jq -r '.delivery.status + " " + (.delivery.error // "")' <<<"$output"
	assert_line --index 0 'dry-run '
	assert_line --index 1 'dry-run '
	assert_line --index 2 "rejected no recipient: recipientEmail, profile.email, email or the stored profile's email"
	# the record's field and profile.email come before the stored profile
	assert_line --index 3 --partial "rejected recipient 'bad address'"
	assert_line --index 4 --partial "rejected recipient 'also bad'"
	# the output is the record as read: nothing of the stored profile added
	run jq -c 'del(.delivery)' a.ndjson
	assert_equal "$(jrn-send --dry-run a.ndjson 2>/dev/null | jq -c 'del(.delivery)')" "$output"
	# an sms needs a phone: none stored, rejected
	printf '{"actionType":"sms","customerId":"u-1","campaignId":"c","messageContent":"Hi"}\n' > s.ndjson
	run --separate-stderr jrn-send --dry-run s.ndjson
	assert_failure 3
	assert_equal "$(jq -r .delivery.error <<<"$output")" "no recipient: recipientPhone, profile.phone, phone or the stored profile's phone"
}

@test "jrn-send over SMTP: the stored address and name reach the server; the stored locale picks the template" {
	peer_skip_unless_installed smtp
	peer_smtp_start
	visitor > v.ndjson
	jrn-ingest -q v.ndjson
	mkdir templates
	printf 'Hello {{profile.firstName}}\n' > templates/hi.txt
	printf 'Bonjour {{profile.firstName}}\n' > templates/hi.fr.txt
	printf 'Hi\n' > templates/hi.subject
	printf 'providers:\n  email:\n    - {type: smtp, name: capture, url: "%s", tls: none}\nsend:\n  from: "Shop <news@shop.test>"\n' "$SMTP_URL" > jrn.yaml
	echo '{"actionType":"email","customerId":"anon-1","campaignId":"c","template":"hi"}' > a.ndjson
	run --separate-stderr jrn-send a.ndjson
	assert_success
	assert_equal "$(jq -r .delivery.status <<<"$output")" sent
	run jq -c .rcptTo "$SMTP_DIR/1.json"
	assert_output '["u1@x.test"]'
	run bash -c "tr -d '\r' < '$SMTP_DIR/1.eml' | grep -a -e '^To: ' -e '^Bonjour'"
	assert_line --index 0 'To: Uma <u1@x.test>'
	assert_line --index 1 --partial 'Bonjour Uma'
}
