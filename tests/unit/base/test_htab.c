/* base/htab.c: the one hash table (ns nodes, blobs, weight files use it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/htab.h"

struct item {
	int key;
	struct hub_hnode link;
	bool seen;
};

static struct item *find(struct hub_htab *t, int key, uint64_t h)
{
	for (struct hub_hnode *l = hub_htab_first(t, h); l; l = hub_htab_next(l, h)) {
		struct item *x = hub_container_of(l, struct item, link);
		if (x->key == key)
			return x;
	}
	return NULL;
}

/* Many elements: the table doubles from 2 buckets and finds each one. */
static void test_grow_and_find(void **state)
{
	(void)state;
	enum { N = 5000 };
	struct item *v = calloc(N, sizeof(*v));
	struct hub_htab t;
	assert_int_equal(hub_htab_init(&t, 1, 0), 0);
	assert_int_equal(t.nb, 2);
	for (int i = 0; i < N; i++) {
		v[i].key = i;
		hub_htab_insert(&t, &v[i].link, (uint64_t)i); /* sequential hashes */
	}
	assert_int_equal(t.n, N);
	assert_true(t.nb >= N);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(find(&t, i, (uint64_t)i), &v[i]);
	assert_null(find(&t, N, (uint64_t)N));
	/* sequential hashes spread: no bucket holds more than a few */
	size_t longest = 0;
	for (size_t b = 0; b < t.nb; b++) {
		size_t len = 0;
		for (struct hub_hnode *l = t.b[b]; l; l = l->next)
			len++;
		if (len > longest)
			longest = len;
	}
	assert_true(longest <= 4);
	hub_htab_fini(&t);
	free(v);
}

/* Equal hashes (collisions): first/next walk every element of that hash
 * and none of another; remove takes out exactly the one given. */
static void test_equal_hashes_and_remove(void **state)
{
	(void)state;
	struct item v[6];
	memset(v, 0, sizeof(v));
	struct hub_htab t;
	assert_int_equal(hub_htab_init(&t, 4, 0), 0);
	for (int i = 0; i < 6; i++) {
		v[i].key = i;
		hub_htab_insert(&t, &v[i].link, i < 4 ? 7 : 8);
	}
	int count = 0;
	for (struct hub_hnode *l = hub_htab_first(&t, 7); l; l = hub_htab_next(l, 7)) {
		struct item *x = hub_container_of(l, struct item, link);
		assert_true(x->key < 4);
		count++;
	}
	assert_int_equal(count, 4);
	hub_htab_remove(&t, &v[2].link);
	assert_int_equal(t.n, 5);
	assert_null(find(&t, 2, 7));
	assert_ptr_equal(find(&t, 3, 7), &v[3]);
	assert_ptr_equal(find(&t, 5, 8), &v[5]);
	hub_htab_fini(&t);
}

/* max_nb bounds the buckets; the table still holds every element. */
static void test_bounded_buckets(void **state)
{
	(void)state;
	enum { N = 300 };
	struct item *v = calloc(N, sizeof(*v));
	struct hub_htab t;
	assert_int_equal(hub_htab_init(&t, 2, 16), 0);
	for (int i = 0; i < N; i++) {
		v[i].key = i;
		hub_htab_insert(&t, &v[i].link, (uint64_t)i * 977);
	}
	assert_int_equal(t.nb, 16);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(find(&t, i, (uint64_t)i * 977), &v[i]);
	hub_htab_fini(&t);
	free(v);
}

/* HUB_HTAB_EACH visits each element once, also when the body unlinks it. */
static void test_each_with_removal(void **state)
{
	(void)state;
	enum { N = 100 };
	struct item v[N];
	memset(v, 0, sizeof(v));
	struct hub_htab t;
	assert_int_equal(hub_htab_init(&t, 8, 0), 0);
	for (int i = 0; i < N; i++) {
		v[i].key = i;
		hub_htab_insert(&t, &v[i].link, (uint64_t)(i % 10));
	}
	HUB_HTAB_EACH(&t, l) {
		struct item *x = hub_container_of(l, struct item, link);
		assert_false(x->seen);
		x->seen = true;
		hub_htab_remove(&t, l);
	}
	for (int i = 0; i < N; i++)
		assert_true(v[i].seen);
	assert_int_equal(t.n, 0);
	hub_htab_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_grow_and_find),
		cmocka_unit_test(test_equal_hashes_and_remove),
		cmocka_unit_test(test_bounded_buckets),
		cmocka_unit_test(test_each_with_removal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
