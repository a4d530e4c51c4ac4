/*
 * Unit tests for base/rset.c: adds that merge, touch, overlap and nest;
 * queries (first_missing, covers, next_start, bytes, prefix); clamp; union
 * and copy; the bound (the smallest range dropped); and a randomized check
 * against a bitmap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/rset.h"

static void assert_ranges(const struct hub_rset *s, const uint64_t *ab, size_t n)
{
	assert_int_equal(s->n, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(s->v[i].a, ab[2 * i]);
		assert_int_equal(s->v[i].b, ab[2 * i + 1]);
	}
}

static void test_add_merge(void **state)
{
	(void)state;
	struct hub_rset s;
	hub_rset_init(&s, 0);
	assert_int_equal(hub_rset_add(&s, 5, 5), 0); /* empty: nothing */
	assert_int_equal(hub_rset_add(&s, 7, 3), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(hub_rset_add(&s, 10, 20), 0);
	assert_int_equal(hub_rset_add(&s, 30, 40), 0);
	assert_int_equal(hub_rset_add(&s, 0, 5), 0);
	assert_ranges(&s, (uint64_t[]){0, 5, 10, 20, 30, 40}, 3);
	assert_int_equal(hub_rset_add(&s, 20, 25), 0); /* touches: merged */
	assert_ranges(&s, (uint64_t[]){0, 5, 10, 25, 30, 40}, 3);
	assert_int_equal(hub_rset_add(&s, 12, 14), 0); /* nested */
	assert_ranges(&s, (uint64_t[]){0, 5, 10, 25, 30, 40}, 3);
	assert_int_equal(hub_rset_add(&s, 4, 31), 0); /* spans three */
	assert_ranges(&s, (uint64_t[]){0, 40}, 1);
	assert_int_equal(hub_rset_add(&s, 50, 60), 0);
	assert_int_equal(hub_rset_add(&s, 45, 55), 0); /* overlaps the start */
	assert_ranges(&s, (uint64_t[]){0, 40, 45, 60}, 2);
	hub_rset_clear(&s);
	assert_int_equal(s.n, 0);
	hub_rset_dispose(&s);
	assert_null(s.v);
}

static void test_queries(void **state)
{
	(void)state;
	struct hub_rset s;
	hub_rset_init(&s, 0);
	assert_int_equal(hub_rset_first_missing(&s, 3, 9), 3);
	assert_true(hub_rset_covers(&s, 4, 4));
	assert_false(hub_rset_covers(&s, 4, 5));
	assert_int_equal(hub_rset_next_start(&s, 0), UINT64_MAX);
	assert_int_equal(hub_rset_prefix(&s), 0);
	hub_rset_add(&s, 10, 20);
	hub_rset_add(&s, 30, 40);
	assert_int_equal(hub_rset_prefix(&s), 0);
	assert_int_equal(hub_rset_bytes(&s), 20);
	assert_int_equal(hub_rset_first_missing(&s, 10, 40), 20);
	assert_int_equal(hub_rset_first_missing(&s, 12, 18), 18);
	assert_int_equal(hub_rset_first_missing(&s, 5, 40), 5);
	assert_int_equal(hub_rset_first_missing(&s, 20, 40), 20);
	assert_true(hub_rset_covers(&s, 10, 20));
	assert_true(hub_rset_covers(&s, 31, 39));
	assert_false(hub_rset_covers(&s, 19, 21));
	assert_int_equal(hub_rset_next_start(&s, 0), 10);
	assert_int_equal(hub_rset_next_start(&s, 10), 30);
	assert_int_equal(hub_rset_next_start(&s, 25), 30);
	assert_int_equal(hub_rset_next_start(&s, 30), UINT64_MAX);
	hub_rset_add(&s, 0, 10);
	assert_int_equal(hub_rset_prefix(&s), 20);
	hub_rset_dispose(&s);
}

static void test_clamp_union_copy(void **state)
{
	(void)state;
	struct hub_rset s, t;
	hub_rset_init(&s, 0);
	hub_rset_init(&t, 0);
	hub_rset_add(&s, 0, 10);
	hub_rset_add(&s, 20, 30);
	hub_rset_add(&s, 40, 50);
	hub_rset_clamp(&s, 25);
	assert_ranges(&s, (uint64_t[]){0, 10, 20, 25}, 2);
	hub_rset_clamp(&s, 20);
	assert_ranges(&s, (uint64_t[]){0, 10}, 1);
	hub_rset_clamp(&s, 0);
	assert_int_equal(s.n, 0);
	hub_rset_add(&s, 0, 10);
	hub_rset_add(&t, 5, 15);
	hub_rset_add(&t, 100, 200);
	assert_int_equal(hub_rset_union(&s, &t), 0);
	assert_ranges(&s, (uint64_t[]){0, 15, 100, 200}, 2);
	hub_rset_clear(&t);
	hub_rset_add(&t, 7, 8);
	assert_int_equal(hub_rset_copy(&s, &t), 0);
	assert_ranges(&s, (uint64_t[]){7, 8}, 1);
	hub_rset_dispose(&s);
	hub_rset_dispose(&t);
}

static void test_bound(void **state)
{
	(void)state;
	struct hub_rset s;
	hub_rset_init(&s, 3);
	hub_rset_add(&s, 0, 100);
	hub_rset_add(&s, 200, 210); /* the smallest */
	hub_rset_add(&s, 300, 350);
	hub_rset_add(&s, 400, 420); /* a fourth: [200, 210) goes */
	assert_ranges(&s, (uint64_t[]){0, 100, 300, 350, 400, 420}, 3);
	hub_rset_add(&s, 500, 501); /* itself the smallest: dropped */
	assert_ranges(&s, (uint64_t[]){0, 100, 300, 350, 400, 420}, 3);
	hub_rset_dispose(&s);
	assert_int_equal(s.max, 3); /* kept */
	/* growth past the first allocation, unbounded */
	hub_rset_init(&s, 0);
	for (uint64_t i = 0; i < 1000; i++)
		assert_int_equal(hub_rset_add(&s, 4000 - i * 3, 4000 - i * 3 + 2), 0);
	assert_int_equal(s.n, 1000);
	for (size_t i = 1; i < s.n; i++)
		assert_true(s.v[i - 1].b < s.v[i].a);
	hub_rset_dispose(&s);
}

/* Random adds against a bitmap: the set is always the bitmap's runs. */
static void test_random_vs_bitmap(void **state)
{
	(void)state;
	enum { N = 512 };
	unsigned seed = 12345;
	for (int round = 0; round < 200; round++) {
		unsigned char bits[N] = {0};
		struct hub_rset s;
		hub_rset_init(&s, 0);
		int adds = 1 + rand_r(&seed) % 40;
		for (int k = 0; k < adds; k++) {
			uint64_t a = (uint64_t)(rand_r(&seed) % N);
			uint64_t b = a + (uint64_t)(rand_r(&seed) % 40);
			if (b > N)
				b = N;
			assert_int_equal(hub_rset_add(&s, a, b), 0);
			for (uint64_t i = a; i < b; i++)
				bits[i] = 1;
			/* invariants: sorted, disjoint, never adjacent, non-empty */
			for (size_t i = 0; i < s.n; i++) {
				assert_true(s.v[i].a < s.v[i].b);
				if (i)
					assert_true(s.v[i - 1].b < s.v[i].a);
			}
		}
		uint64_t bytes = 0;
		for (int i = 0; i < N; i++)
			bytes += bits[i];
		assert_int_equal(hub_rset_bytes(&s), bytes);
		for (int q = 0; q < 50; q++) {
			uint64_t a = (uint64_t)(rand_r(&seed) % N);
			uint64_t b = a + (uint64_t)(rand_r(&seed) % 60);
			if (b > N)
				b = N;
			uint64_t miss = a;
			while (miss < b && bits[miss])
				miss++;
			assert_int_equal(hub_rset_first_missing(&s, a, b), miss);
			assert_int_equal(hub_rset_covers(&s, a, b), miss == b);
		}
		uint64_t pre = 0;
		while (pre < N && bits[pre])
			pre++;
		assert_int_equal(hub_rset_prefix(&s), pre);
		hub_rset_dispose(&s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_merge),
		cmocka_unit_test(test_queries),
		cmocka_unit_test(test_clamp_union_copy),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_random_vs_bitmap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
