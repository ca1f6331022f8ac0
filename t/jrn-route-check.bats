#!/usr/bin/env bats
# jrn-route --check: the journey linter, rule by rule (errors exit 1,
# warnings alone exit 0), a broken file among good ones, journeys named by
# name or file, where journeys are found, and enrollments stranded by a
# new version.

load helpers

# journey NAME: a journey file journeys/NAME.yaml from stdin
journey() {
	mkdir -p journeys
	cat > "journeys/$1.yaml"
}

# a clean journey: its template exists and carries an unsubscribe link
clean() {
	mkdir -p templates
	printf 'Hello {{firstName}}\n' > templates/welcome.txt
	printf '<a href="{{ unsubscribeUrl }}">unsubscribe</a>\n' > templates/welcome.html
	printf 'Welcome\n' > templates/welcome.subject
	journey welcome <<-'EOF'
	trigger: {event: signup, profile: {"traits.plan": pro}}
	steps:
	  - action: {channel: email, template: welcome, campaign: onboarding}
	  - wait: 1d
	  - wait_for: {event: email.opened, within: 2d, then: done, else: nudge}
	  - id: nudge
	    action: {channel: email, template: welcome, campaign: onboarding}
	  - id: done
	    exit: finished
	EOF
}

@test "a clean journey: nothing said, exit 0" {
	clean
	run --separate-stderr jrn-route --check
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
}

@test "no journeys at all: said (nothing checked), exit 0; -v counts what was checked" {
	run --separate-stderr jrn-route --check
	assert_success
	assert_output ''
	assert_equal "$stderr" "jrn-route: --check: no journeys in journeys/ (nor journeys: in the config): nothing checked"
	run --separate-stderr jrn-route --check -q
	assert_equal "$stderr" ""
	clean
	run --separate-stderr jrn-route --check -v
	assert_success
	assert_regex "$stderr" '--check: 0 errors, 0 warnings in 1 journey$'
	refute_regex "$stderr" 'events passed'
}

@test "a step no step leads to is a warning (exit 0)" {
	clean
	journey orphan <<-'EOF'
	trigger: x
	steps:
	  - wait: 1h
	    next: end
	  - id: lost
	    exit: never reached
	EOF
	run --separate-stderr jrn-route --check
	assert_success
	assert_output "journeys/orphan.yaml:5:5: warning: step 'lost' is never reached (no step leads to it)"
	assert_equal "$stderr" "jrn-route: --check: 0 errors, 1 warning in 2 journeys"
}

@test "next, then, else naming no step are errors at their place (exit 1), with a suggestion" {
	journey bad <<-'EOF'
	trigger: x
	steps:
	  - id: first
	    wait: 1h
	    next: secnd
	  - id: second
	    wait: 1h
	EOF
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_output "journeys/bad.yaml:5:11: error: step 'first' next: no step 'secnd' (did you mean 'second'?)"
	journey bad <<-'EOF'
	trigger: x
	steps:
	  - branch: {if: {"traits.vip": true}, then: nowhere}
	EOF
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_output "journeys/bad.yaml:3:46: error: step '1' branch then: no step 'nowhere'"
	journey bad <<-'EOF'
	trigger: x
	steps:
	  - wait_for: {event: y, within: 1h, else: gone}
	EOF
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_output "journeys/bad.yaml:3:44: error: step '1' wait_for else: no step 'gone'"
}

@test "a wait_for or goal step without within waits for ever: a warning" {
	journey w <<-'EOF'
	trigger: x
	steps:
	  - wait_for: {event: email.opened}
	  - goal: {event: order.completed}
	  - goal: {event: order.completed, within: 3d}
	EOF
	run --separate-stderr jrn-route --check
	assert_success
	assert_output - <<-'EOF'
	journeys/w.yaml:3:5: warning: step '1' wait_for: no within: it waits for ever when the event never comes
	journeys/w.yaml:4:5: warning: step '2' goal: no within: it waits for ever when the event never comes
	EOF
}

@test "a loop without a wait is a warning naming its steps; one with a wait is not" {
	journey loop <<-'EOF'
	trigger: x
	steps:
	  - id: a
	    update: {set: {n: 1}}
	  - id: b
	    branch: {if: {"traits.n": 1}, then: a, else: c}
	  - id: c
	    wait: 1h
	    next: a
	EOF
	run --separate-stderr jrn-route --check
	assert_success
	assert_output "journeys/loop.yaml:3:5: warning: steps 'a' -> 'b' -> 'a' loop without a wait (an enrollment stops after 100 steps in one go, JOURNEY_RUN_MAX, and goes round again a minute later)"
	# the loop through c waits: only the a-b loop is said, once
	journey loop <<-'EOF'
	trigger: x
	steps:
	  - id: a
	    update: {set: {n: 1}}
	  - id: c
	    wait: 1h
	    next: a
	EOF
	run --separate-stderr jrn-route --check
	assert_success
	assert_output ""
}

@test "templates: one that does not exist is an error per channel's parts; locale variants count" {
	mkdir -p templates
	printf 'Hi {{unsubscribeUrl}}\n' > templates/promo.de.html
	printf 'Hi\n' > templates/short.sms
	printf 'Hi\n' > templates/chat.whatsapp
	journey t <<-'EOF'
	trigger: x
	steps:
	  - action: {channel: email, template: promo}
	  - action: {channel: email, template: gone}
	  - action: {channel: sms, template: short}
	  - action: {channel: sms, template: promo}
	  - action: {channel: whatsapp, template: short}
	  - action: {channel: whatsapp, template: chat}
	  - action: {channel: whatsapp, template: none}
	EOF
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_output - <<-'EOF'
	journeys/t.yaml:4:5: error: step '2' action: no template 'gone' for email in templates (gone.txt or .html)
	journeys/t.yaml:6:5: error: step '4' action: no template 'promo' for sms in templates (promo.sms)
	journeys/t.yaml:9:5: error: step '7' action: no template 'none' for whatsapp in templates (none.whatsapp or .sms)
	EOF
	assert_equal "$stderr" "jrn-route: --check: 3 errors, 0 warnings in 1 journey"
}

@test "templates are found as jrn-send finds them: templates.dir, relative to the config's folder" {
	mkdir -p conf/tpl
	printf 'templates:\n  dir: tpl\n' > conf/jrn.yaml
	printf 'x {{unsubscribeUrl}}\n' > conf/tpl/news.txt
	journey n <<-'EOF'
	trigger: x
	steps:
	  - action: {channel: email, template: news}
	EOF
	run --separate-stderr jrn-route --config conf/jrn.yaml --check
	assert_success
	assert_output ""
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_output "journeys/n.yaml:3:5: error: step '1' action: no template 'news' for email in templates (news.txt or .html)"
}

@test "a marketing e-mail without an unsubscribe tag is a warning; transactional ones and the forms jrn-send fills pass" {
	mkdir -p templates
	printf 'Hello\n' > templates/plain.txt
	printf '<p>Hello</p>\n' > templates/plain.html
	printf 'Bye {{{ unsubscribeUrl }}}\n' > templates/triple.html
	printf 'Bye {{> unsubscribe-footer}}\n' > templates/partial.txt
	printf 'Your receipt\n' > templates/receipt.txt
	journey u <<-'EOF'
	trigger: x
	steps:
	  - action: {channel: email, template: plain}
	  - action: {channel: email, template: triple}
	  - action: {channel: email, template: partial}
	  - action: {channel: email, template: receipt, priority: transactional}
	  - action: {channel: email, template: receipt, category: transactional}
	  - action: {channel: email, subject: Hi, messageContent: "Hello"}
	  - action: {channel: email, subject: Hi, messageContent: "Hello {{unsubscribeUrl}}"}
	  - action: {channel: sms, template: plain, messageContent: "no link needed"}
	EOF
	run --separate-stderr jrn-route --check
	# sms has no .sms part: an error, not an unsubscribe warning
	assert_failure 1
	assert_output - <<-'EOF'
	journeys/u.yaml:3:5: warning: step '1' action: marketing e-mail template 'plain' has no unsubscribe link (a tag such as {{unsubscribeUrl}} in its .txt or .html)
	journeys/u.yaml:8:5: warning: step '6' action: marketing e-mail without a template or an unsubscribe link ({{unsubscribeUrl}})
	journeys/u.yaml:10:5: error: step '8' action: no template 'plain' for sms in templates (plain.sms)
	EOF
}

@test "an unsubscribe tag jrn-send would not fill is named in the warning: another case, a section alone, {{&...}} in messageContent" {
	mkdir -p templates
	printf 'Bye {{{ UnsubscribeURL }}}\n' > templates/case.html
	printf 'Bye {{#unsubscribeUrl}}here{{/unsubscribeUrl}}\n' > templates/section.txt
	printf 'Bye {{& unsubscribeUrl }}\n' > templates/amp.txt
	printf 'Bye {{#unsubscribeUrl}}{{unsubscribeUrl}}{{/unsubscribeUrl}}\n' > templates/both.txt
	journey u <<-'EOF'
	trigger: x
	steps:
	  - action: {channel: email, template: case}
	  - action: {channel: email, template: section}
	  - action: {channel: email, template: amp}
	  - action: {channel: email, template: both}
	  - action: {channel: email, subject: Hi, messageContent: "Bye {{&unsubscribeUrl}}"}
	  - action: {channel: email, subject: Hi, messageContent: "Bye {{unsubscribeURL}}"}
	  - action: {channel: email, subject: Hi, messageContent: "Bye {{{ unsubscribeUrl }}}"}
	EOF
	run --separate-stderr jrn-route --check
	assert_success
	assert_output - <<-'EOF'
	journeys/u.yaml:3:5: warning: step '1' action: marketing e-mail template 'case' has no unsubscribe link: jrn-send fills {{unsubscribeUrl}}, not {{{ UnsubscribeURL }}}
	journeys/u.yaml:4:5: warning: step '2' action: marketing e-mail template 'section' has no unsubscribe link: jrn-send fills {{unsubscribeUrl}}, not {{#unsubscribeUrl}}
	journeys/u.yaml:7:5: warning: step '5' action: marketing e-mail without an unsubscribe link: jrn-send fills {{unsubscribeUrl}} in messageContent, not {{&unsubscribeUrl}}
	journeys/u.yaml:8:5: warning: step '6' action: marketing e-mail without an unsubscribe link: jrn-send fills {{unsubscribeUrl}} in messageContent, not {{unsubscribeURL}}
	EOF
}

@test "the link as jrn-send renders it: a default after |, a section of it, other delimiters, a tag over lines pass; one in a comment, or under other delimiters, does not; messageContent as jrn-send scans it; a quoted tag stays on one line" {
	mkdir -p templates
	printf 'Bye {{unsubscribeUrl|https://shop.example/u}}\n' > templates/default.txt
	printf 'Bye {{#unsubscribeUrl}}{{.}}{{/unsubscribeUrl}}\n' > templates/dot.txt
	printf '{{=<%% %%>=}}Bye <%% unsubscribeUrl %%>\n' > templates/delim.txt
	printf 'Bye {{\nunsubscribeUrl\n}}\n' > templates/lines.txt
	printf '{{#vip}}Bye {{unsubscribeUrl}}{{/vip}}\n' > templates/cond.txt
	printf 'Bye {{! {{unsubscribeUrl}} }}\n' > templates/comment.txt
	printf '{{=<%% %%>=}}Bye {{unsubscribeUrl}}\n' > templates/stale.txt
	printf 'Bye {{\nUnsubscribeURL\n}}\n' > templates/nl.txt
	journey u <<-'EOF'
	trigger: x
	steps:
	  - action: {channel: email, template: default}
	  - action: {channel: email, template: dot}
	  - action: {channel: email, template: delim}
	  - action: {channel: email, template: lines}
	  - action: {channel: email, template: cond}
	  - action: {channel: email, template: comment}
	  - action: {channel: email, template: stale}
	  - action: {channel: email, template: nl}
	  - action: {channel: email, subject: Hi, messageContent: "Hi {{{name}} Bye {{unsubscribeUrl}}"}
	  - action: {channel: email, subject: Hi, messageContent: "Bye {{{unsubscribeUrl}}"}
	EOF
	run --separate-stderr jrn-route --check
	assert_success
	assert_output - <<-'EOF'
	journeys/u.yaml:8:5: warning: step '6' action: marketing e-mail template 'comment' has no unsubscribe link (a tag such as {{unsubscribeUrl}} in its .txt or .html)
	journeys/u.yaml:9:5: warning: step '7' action: marketing e-mail template 'stale' has no unsubscribe link (a tag such as {{unsubscribeUrl}} in its .txt or .html)
	journeys/u.yaml:10:5: warning: step '8' action: marketing e-mail template 'nl' has no unsubscribe link: jrn-send fills {{unsubscribeUrl}}, not {{\nUnsubscribeURL\n}}
	EOF
}

@test "a condition on a field no profile or event carries is a warning, with a suggestion" {
	journey f <<-'EOF'
	trigger: {event: x, where: {"propertes.total": {gte: 1}}, profile: {"trait.vip": true}}
	exit: [{event: y, where: {"properties.a": 1}}]
	steps:
	  - branch: {if: {all: [{"scores.rfm.score": {gte: 3}}, {"event.properties.a": 1}, {"segmnts": {contains: vip}}]}, then: end}
	  - wait_for: {event: z, within: 1h, where: {"customerId": c1}}
	EOF
	run --separate-stderr jrn-route --check
	assert_success
	assert_output - <<-'EOF'
	journeys/f.yaml:1:28: warning: trigger:where: no event carries 'propertes' (did you mean 'properties'?)
	journeys/f.yaml:1:68: warning: trigger:profile: no profile carries 'trait' (did you mean 'traits'?)
	journeys/f.yaml:4:18: warning: step:1:if: no profile carries 'segmnts' (did you mean 'segments'?)
	EOF
}

@test "a broken file among good ones: its error, and the others still checked" {
	clean
	journey aa-broken <<-'EOF'
	trigger: {event: x}
	steps:
	  - action: {chanel: email}
	EOF
	journey zz-warn <<-'EOF'
	trigger: x
	steps:
	  - wait_for: {event: y}
	EOF
	printf 'trigger: x\nsteps: [{wait: 1h}\n' > journeys/mm-yaml.yml
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_line -n 0 "journeys/aa-broken.yaml:3:14: error: unknown key 'chanel' in step '1' action (did you mean 'channel'?)"
	assert_line -n 1 --partial "journeys/mm-yaml.yml:3:1: error: "
	assert_line -n 2 "journeys/zz-warn.yaml:3:5: warning: step '1' wait_for: no within: it waits for ever when the event never comes"
	assert_equal "${#lines[@]}" 3
	assert_equal "$stderr" "jrn-route: --check: 2 errors, 1 warning in 4 journeys"
	run --separate-stderr jrn-route -q --check
	assert_failure 1
	assert_equal "$stderr" ""
}

@test "a step whose kind is misspelt: the key named with the kind it is near; a key near none: no kind" {
	clean
	journey a <<-'EOF'
	trigger: {event: cart.updated}
	steps:
	  - wiat: 1h
	EOF
	journey b <<-'EOF'
	trigger: {event: cart.updated}
	steps:
	  - {bogus: 1h}
	EOF
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_line -n 0 "journeys/a.yaml:3:5: error: step:1: unknown key 'wiat' (did you mean 'wait'?)"
	assert_line -n 1 "journeys/b.yaml:3:5: error: step:1: no kind (action, wait, wait_for, branch, split, goal, exit, update or webhook)"
}

@test "two journeys of one name: the second is an error naming the first" {
	journey a <<-'EOF'
	name: same
	trigger: x
	steps: [{wait: 1h}]
	EOF
	journey b <<-'EOF'
	name: same
	trigger: x
	steps: [{wait: 1h}]
	EOF
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_output "journeys/b.yaml: error: a second journey named 'same' (the first is journeys/a.yaml)"
}

@test "--check JOURNEY...: by name or by file; the others are not checked; an unknown one is exit 1" {
	clean
	journey broken <<-'EOF'
	trigger: x
	steps: []
	EOF
	journey other <<-'EOF'
	name: renamed
	trigger: x
	steps:
	  - wait_for: {event: y}
	EOF
	run --separate-stderr jrn-route --check welcome
	assert_success
	assert_output ""
	run --separate-stderr jrn-route --check renamed
	assert_success
	assert_output "journeys/other.yaml:4:5: warning: step '1' wait_for: no within: it waits for ever when the event never comes"
	run --separate-stderr jrn-route --check journeys/broken.yaml
	assert_failure 1
	assert_output "journeys/broken.yaml:2:8: error: steps: the list is empty (a journey needs a step)"
	mkdir elsewhere
	cp journeys/other.yaml elsewhere/x.yaml
	run --separate-stderr jrn-route --check elsewhere/x.yaml welcome
	assert_success
	assert_output "elsewhere/x.yaml:4:5: warning: step '1' wait_for: no within: it waits for ever when the event never comes"
	# a file, then a name not found after it (the found one is taken out)
	run --separate-stderr jrn-route --check journeys/other.yaml nosuch
	assert_failure 1
	assert_output "journeys/other.yaml:4:5: warning: step '1' wait_for: no within: it waits for ever when the event never comes"
	run --separate-stderr jrn-route --check nosuch
	assert_failure 1
	assert_output ""
	assert_equal "$stderr" "jrn-route: --check: no journey 'nosuch' (neither a name in journeys nor a file)"
}

@test "where journeys are: --journeys, JRN_JOURNEYS, config journeys.dir, ./journeys; jrn.yaml entries" {
	mkdir -p a b conf/c journeys
	printf 'trigger: x\nsteps: [{wait_for: {event: a}}]\n' > a/one.yaml
	printf 'trigger: x\nsteps: [{wait_for: {event: b}}]\n' > b/one.yaml
	printf 'trigger: x\nsteps: [{wait_for: {event: c}}]\n' > conf/c/one.yaml
	printf 'trigger: x\nsteps: [{wait_for: {event: d}}]\n' > journeys/one.yaml
	printf 'journeys:\n  dir: c\n' > conf/jrn.yaml
	run --separate-stderr jrn-route --check
	assert_output --partial "journeys/one.yaml:2:"
	run --separate-stderr jrn-route --config conf/jrn.yaml --check
	assert_output --partial "conf/c/one.yaml:2:"
	JRN_JOURNEYS=b run --separate-stderr jrn-route --config conf/jrn.yaml --check
	assert_output --partial "b/one.yaml:2:"
	JRN_JOURNEYS=b run --separate-stderr jrn-route --config conf/jrn.yaml --journeys a --check
	assert_output --partial "a/one.yaml:2:"
	printf 'journeys:\n  dir: [c]\n' > conf/bad.yaml
	run --separate-stderr jrn-route --config conf/bad.yaml --check
	assert_failure 1
	assert_line -n 0 "conf/bad.yaml:2:8: error: journeys.dir: expected a folder's name, not a list"
	run --separate-stderr jrn-route --journeys nowhere --check
	assert_failure 1
	assert_equal "$stderr" "jrn-route: --check: nowhere: No such file or directory"
	# entries of jrn.yaml: errors at their line and column in it
	cat > conf/jrn.yaml <<-'EOF'
	journeys:
	  dir: c
	  digest:
	    trigger: {schedule: "0 9 * * mon"}
	    steps:
	      - action: {channel: email, tempalte: news}
	EOF
	run --separate-stderr jrn-route --config conf/jrn.yaml --check
	assert_failure 1
	# what does not compile comes first, then the linter's findings (an
	# entry's at its place in jrn.yaml too)
	assert_line -n 0 "conf/jrn.yaml:6:34: error: unknown key 'tempalte' in step '1' action (did you mean 'template'?)"
	assert_line -n 1 "conf/c/one.yaml:2:9: warning: step '1' wait_for: no within: it waits for ever when the event never comes"
	cat >> conf/jrn.yaml <<-'EOF'
	  weekly:
	    trigger: {schedule: "@weekly"}
	    steps:
	      - wait_for: {event: y}
	      - wait: 1h
	        next: end
	      - wait: 1h
	EOF
	run --separate-stderr jrn-route --config conf/jrn.yaml --check
	assert_failure 1
	assert_line -n 2 "conf/jrn.yaml:10:9: warning: step '1' wait_for: no within: it waits for ever when the event never comes"
	assert_line -n 3 "conf/jrn.yaml:13:9: warning: step '3' is never reached (no step leads to it)"
	assert_equal "${#lines[@]}" 4
}

@test "a cron that does not parse, a zone that does not exist, a rule that does not compile: errors" {
	journey c <<-'EOF'
	trigger: {schedule: "0 25 * * *"}
	steps: [{wait: 1h}]
	EOF
	journey z <<-'EOF'
	trigger: x
	steps: [{wait: {until: "09:00", zone: Europe/Nowhere}}]
	EOF
	journey r <<-'EOF'
	trigger: {event: x, where: {"properties.a": {bigger: 1}}}
	steps: [{wait: 1h}]
	EOF
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_output - <<-'EOF'
	journeys/c.yaml:1:21: error: trigger schedule: hour field '25': out of range 0-23
	journeys/r.yaml:1:28: error: trigger where: rule 1: unknown operator 'bigger' (operators: equals (eq), not_equals (ne), contains, not_contains, greater_than (gt), less_than (lt), gte, lte, between, in, not_in, is_set, is_not_set, starts_with, matches)
	journeys/z.yaml:2:39: error: step '1' wait zone: 'Europe/Nowhere' is not a time zone of the system's zoneinfo
	EOF
}

@test "with a state file: enrollments stranded on a step the new version removed (migrate without a map for it)" {
	journey s <<-'EOF'
	trigger: x
	migrate: {steps: {old: b}}
	steps:
	  - id: a
	    wait: 1h
	  - id: b
	    wait: 1h
	EOF
	# a state file with version 1 of s, three enrollments on it
	jrn-route < /dev/null
	sqlite3 jrn.db "INSERT INTO journey_versions VALUES ('s', 1, 'd1', 'src', NULL, 0);
		INSERT INTO enrollments (journey, version, customer_id, trigger_key, status, step, entered_at, updated_at)
		VALUES ('s', 1, 'c1', 'k1', 'active', 'gone', 0, 0), ('s', 1, 'c2', 'k2', 'active', 'gone', 0, 0),
		       ('s', 1, 'c3', 'k3', 'active', 'old', 0, 0), ('s', 1, 'c4', 'k4', 'active', 'a', 0, 0),
		       ('s', 1, 'c5', 'k5', 'completed', 'zap', 0, 0)"
	run --separate-stderr jrn-route --check
	assert_success
	assert_output "journeys/s.yaml:1:1: warning: 2 enrollments of version 1 at step 'gone', which this version removes, stay on version 1 (map the step in migrate: steps)"
	# without migrate: they finish on their own version, nothing stranded
	sed -i '/^migrate/d' journeys/s.yaml
	run --separate-stderr jrn-route --check
	assert_success
	assert_output ""
}

@test "--check with no state file creates none" {
	mkdir -p journeys
	printf 'name: w\ntrigger: {event: signup}\nsteps:\n  - exit: ok\n' > journeys/w.yaml
	rm -f jrn.db
	run --separate-stderr jrn-route --check
	assert_success
	assert_equal "$stderr" ""
	[ ! -e jrn.db ]
}

@test "a template name jrn-send would refuse (a path, a leading dot) is an error at its place, as jrn-send reads names" {
	mkdir -p templates
	printf 'x\n' > secret.txt
	journey t <<-'EOF'
	trigger: go
	steps:
	  - action: {channel: email, template: ../secret, campaign: x}
	EOF
	journey u <<-'EOF'
	trigger: go
	steps:
	  - wait: 1h
	  - action: {channel: sms, template: .hidden, campaign: x}
	EOF
	run --separate-stderr jrn-route --check
	assert_failure 1
	assert_line --regexp "^journeys/t.yaml:3:[0-9]+: error: step '1' action template: '../secret' is not a template name"
	assert_line --regexp "^journeys/u.yaml:4:[0-9]+: error: step '2' action template: '.hidden' is not a template name"
}
