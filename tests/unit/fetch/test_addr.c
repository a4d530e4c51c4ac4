/*
 * Unit tests for fetch/addr.c: the class of IPv4 and IPv6 addresses (public
 * or why not), embedded IPv4 forms (mapped, NAT64, 6to4, Teredo), this
 * host's own addresses, and hub_rewrite_produced (which URLs a rewrite
 * rule can produce: the trusted first hops of the address policy).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "fetch/addr.h"
#include "fetch/rewrite.h"

/* The class of a textual address (v4 or v6); "bad" if it does not parse. */
static const char *cls(const char *text)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &s6->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		return "bad";
	const char *c = hub_addr_class((struct sockaddr *)&ss);
	assert_true(hub_addr_is_public((struct sockaddr *)&ss) == (c == NULL));
	return c ? c : "public";
}

static void test_ipv4(void **state)
{
	(void)state;
	static const struct {
		const char *addr, *want;
	} cases[] = {
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"11.0.0.1", "public"},
		{"100.63.255.255", "public"},
		{"100.64.0.1", "shared"},
		{"100.127.255.255", "shared"},
		{"100.128.0.0", "public"},
		{"127.0.0.1", "loopback"},
		{"127.255.0.9", "loopback"},
		{"169.254.169.254", "link-local"},
		{"169.253.0.1", "public"},
		{"172.15.255.255", "public"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"172.32.0.0", "public"},
		{"192.0.0.8", "special"},
		{"192.0.2.1", "documentation"},
		{"192.88.99.1", "relay"},
		{"192.167.255.255", "public"},
		{"192.168.1.1", "private"},
		{"192.169.0.0", "public"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.20.0.0", "public"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "reserved"},
		{"8.8.8.8", "public"},
		{"1.1.1.1", "public"},
		{"223.255.255.255", "public"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = cls(cases[i].addr);
		if (strcmp(got, cases[i].want))
			fail_msg("%s: %s, want %s", cases[i].addr, got, cases[i].want);
	}
}

static void test_ipv6(void **state)
{
	(void)state;
	static const struct {
		const char *addr, *want;
	} cases[] = {
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::2", "ipv4-compatible"},
		{"::127.0.0.1", "ipv4-compatible"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"::ffff:8.8.8.8", "public"},
		{"64:ff9b::127.0.0.1", "loopback"},
		{"64:ff9b::a9fe:a9fe", "link-local"},
		{"64:ff9b::8.8.8.8", "public"},
		{"64:ff9b:1::1", "nat64-local"},
		{"100::1", "discard"},
		{"2001:db8::1", "documentation"},
		{"2001:10::1", "orchid"},
		{"2001:20::1", "orchid"},
		{"2002:7f00:1::", "loopback"},        /* 6to4 of 127.0.0.1 */
		{"2002:a9fe:a9fe::1", "link-local"},  /* 6to4 of 169.254.169.254 */
		{"2002:808:808::1", "public"},        /* 6to4 of 8.8.8.8 */
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"}, /* Teredo, client ~ = 127.0.0.1 */
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", "public"},   /* client 8.8.8.8 */
		{"fc00::1", "unique-local"},
		{"fd12:3456::1", "unique-local"},
		{"fe80::1", "link-local"},
		{"febf::1", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"2606:4700:4700::1111", "public"},
		{"2a00:1450:4001::1", "public"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = cls(cases[i].addr);
		if (strcmp(got, cases[i].want))
			fail_msg("%s: %s, want %s", cases[i].addr, got, cases[i].want);
	}
}

static void test_other_families_and_strings(void **state)
{
	(void)state;
	struct sockaddr sa = {.sa_family = AF_UNIX};
	assert_string_equal(hub_addr_class(&sa), "not-ip");
	assert_false(hub_addr_is_public(&sa));
	assert_string_equal(hub_addr_class(NULL), "not-ip");
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	char buf[64];
	hub_addr_str(buf, sizeof(buf), (struct sockaddr *)&s6);
	assert_string_equal(buf, "::ffff:127.0.0.1");
	hub_addr_str(buf, sizeof(buf), &sa);
	assert_string_equal(buf, "?");
}

static void test_local_interfaces(void **state)
{
	(void)state;
	/* 127.0.0.1 is on lo; so is its mapped form; a TEST-NET address is not */
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	assert_int_equal(hub_addr_is_local((struct sockaddr *)&s4), 1);
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	assert_int_equal(hub_addr_is_local((struct sockaddr *)&s6), 1);
	inet_pton(AF_INET, "192.0.2.77", &s4.sin_addr);
	assert_int_equal(hub_addr_is_local((struct sockaddr *)&s4), 0);
}

static void test_rewritten(void **state)
{
	(void)state;
	char f1[] = "https://weights.example/w/", t1[] = "http://10.0.0.5:8080/mirror/";
	char f2[] = "https://weights.example/w/secret/", t2[] = "https://public.example/s/";
	char f3[] = "https://strip.example/", t3[] = "";
	struct hub_rewrites o = {.n = 2};
	o.rule[0] = (struct hub_rewrite){f1, t1};
	o.rule[1] = (struct hub_rewrite){f2, t2};
	/* what rule 1 makes */
	assert_true(hub_rewrite_produced(&o, "http://10.0.0.5:8080/mirror/x.pth"));
	assert_true(hub_rewrite_produced(&o, "http://10.0.0.5:8080/mirror/"));
	/* rule 2 shadows w/secret/: rule 1 never produces mirror/secret/... */
	assert_false(hub_rewrite_produced(&o, "http://10.0.0.5:8080/mirror/secret/x.pth"));
	assert_true(hub_rewrite_produced(&o, "https://public.example/s/x.pth"));
	/* not a target at all */
	assert_false(hub_rewrite_produced(&o, "http://10.0.0.5:8080/other/x.pth"));
	assert_false(hub_rewrite_produced(&o, "http://10.0.0.5/mirror/x.pth"));
	assert_false(hub_rewrite_produced(&o, "https://weights.example/w/x.pth"));
	assert_false(hub_rewrite_produced(NULL, "http://10.0.0.5:8080/mirror/x.pth"));
	struct hub_rewrites none = {0};
	assert_false(hub_rewrite_produced(&none, "http://127.0.0.1/x"));
	/* an empty TO: everything after FROM is the URL, so every URL is one */
	o.rule[2] = (struct hub_rewrite){f3, t3};
	o.n = 3;
	assert_true(hub_rewrite_produced(&o, "http://127.0.0.1/x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_other_families_and_strings),
		cmocka_unit_test(test_local_interfaces),
		cmocka_unit_test(test_rewritten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
