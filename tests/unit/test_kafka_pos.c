/* Unit tests of the producer's durable-position ring (sl_kafka_posring_*):
 * the durable position never passes an unacknowledged message, acks may
 * come in any order, and in transactional mode only a commit grants it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sl_kafka.h"

static sl_pos_t P(uint64_t offset, uint32_t row)
{
    sl_pos_t p;
    sl_pos_set_pg(&p, 100, offset, row);
    return p;
}

static void assert_durable(const sl_kafka_posring_t *r, uint64_t offset,
                           uint32_t row)
{
    assert_true(r->has_durable);
    assert_int_equal(r->durable.offset, offset);
    assert_int_equal(r->durable.row, row);
}

static void test_in_order_acks(void **state)
{
    sl_kafka_posring_t r;
    uint64_t s[3];
    assert_int_equal(sl_kafka_posring_init(&r, 8, 0), SL_OK);
    for (int i = 0; i < 3; i++) {
        sl_pos_t p = P(10 + i, 0);
        assert_int_equal(sl_kafka_posring_add(&r, &p, &s[i]), SL_OK);
    }
    assert_false(r.has_durable);
    sl_kafka_posring_ack(&r, s[0]);
    assert_durable(&r, 10, 0);
    sl_kafka_posring_ack(&r, s[1]);
    sl_kafka_posring_ack(&r, s[2]);
    assert_durable(&r, 12, 0);
    assert_int_equal(sl_kafka_posring_pending(&r), 0);
    sl_kafka_posring_free(&r);
}

static void test_out_of_order_acks_hold_back(void **state)
{
    sl_kafka_posring_t r;
    uint64_t s[4];
    assert_int_equal(sl_kafka_posring_init(&r, 8, 0), SL_OK);
    for (int i = 0; i < 4; i++) {
        sl_pos_t p = P(10 + i, 0);
        assert_int_equal(sl_kafka_posring_add(&r, &p, &s[i]), SL_OK);
    }
    sl_kafka_posring_ack(&r, s[3]);
    sl_kafka_posring_ack(&r, s[1]);
    assert_false(r.has_durable);          /* s[0] still pending */
    sl_kafka_posring_ack(&r, s[0]);
    assert_durable(&r, 11, 0);            /* s[2] still pending */
    sl_kafka_posring_ack(&r, s[2]);
    assert_durable(&r, 13, 0);
    sl_kafka_posring_free(&r);
}

static void test_equal_positions_need_all_acks(void **state)
{
    sl_kafka_posring_t r;
    uint64_t a, b, c;
    sl_pos_t p1 = P(10, 0), p2 = P(20, 0);
    assert_int_equal(sl_kafka_posring_init(&r, 8, 0), SL_OK);
    assert_int_equal(sl_kafka_posring_add(&r, &p1, &a), SL_OK);
    assert_int_equal(sl_kafka_posring_add(&r, &p2, &b), SL_OK);
    assert_int_equal(sl_kafka_posring_add(&r, NULL, &c), SL_OK); /* same as p2 */
    sl_kafka_posring_ack(&r, a);
    sl_kafka_posring_ack(&r, b);
    assert_durable(&r, 10, 0);            /* c shares position 20 */
    sl_kafka_posring_ack(&r, c);
    assert_durable(&r, 20, 0);
    sl_kafka_posring_free(&r);
}

static void test_backwards_and_full(void **state)
{
    sl_kafka_posring_t r;
    uint64_t s;
    sl_pos_t p1 = P(10, 1), p0 = P(10, 0);
    assert_int_equal(sl_kafka_posring_init(&r, 2, 0), SL_OK);
    assert_int_equal(sl_kafka_posring_add(&r, &p1, &s), SL_OK);
    assert_int_equal(sl_kafka_posring_add(&r, &p0, &s), SL_ERR_INVALID);
    assert_int_equal(sl_kafka_posring_add(&r, &p1, &s), SL_OK);
    assert_true(sl_kafka_posring_full(&r));
    assert_int_equal(sl_kafka_posring_add(&r, &p1, &s), SL_ERR_STATE);
    sl_kafka_posring_ack(&r, 0);
    assert_false(sl_kafka_posring_full(&r));
    /* wraps around the ring */
    for (uint32_t i = 2; i < 50; i++) {
        sl_pos_t p = P(10, i);
        assert_int_equal(sl_kafka_posring_add(&r, &p, &s), SL_OK);
        sl_kafka_posring_ack(&r, s - 1);
    }
    sl_kafka_posring_ack(&r, s);
    assert_durable(&r, 10, 49);
    sl_kafka_posring_ack(&r, s + 5);      /* unknown sequence: ignored */
    assert_durable(&r, 10, 49);
    sl_kafka_posring_free(&r);
}

static void test_txn_commit_and_abort(void **state)
{
    sl_kafka_posring_t r;
    uint64_t s[3];
    assert_int_equal(sl_kafka_posring_init(&r, 4, 1), SL_OK);
    for (int i = 0; i < 3; i++) {
        sl_pos_t p = P(10 + i, 0);
        assert_int_equal(sl_kafka_posring_add(&r, &p, &s[i]), SL_OK);
        sl_kafka_posring_ack(&r, s[i]);
    }
    assert_false(r.has_durable);          /* acked, not committed */
    assert_true(r.has_acked);
    sl_kafka_posring_commit(&r);
    assert_durable(&r, 12, 0);

    sl_pos_t p = P(20, 0);
    assert_int_equal(sl_kafka_posring_add(&r, &p, &s[0]), SL_OK);
    sl_kafka_posring_ack(&r, s[0]);
    sl_kafka_posring_abort(&r);
    assert_durable(&r, 12, 0);            /* aborted: stays */
    assert_int_equal(sl_kafka_posring_pending(&r), 0);
    /* after an abort the same positions are produced again */
    assert_int_equal(sl_kafka_posring_add(&r, &p, &s[1]), SL_OK);
    sl_kafka_posring_ack(&r, s[0]);       /* stale report of the aborted one */
    assert_int_equal(sl_kafka_posring_pending(&r), 1);
    sl_kafka_posring_commit(&r);
    assert_durable(&r, 20, 0);
    sl_kafka_posring_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_order_acks),
        cmocka_unit_test(test_out_of_order_acks_hold_back),
        cmocka_unit_test(test_equal_positions_need_all_acks),
        cmocka_unit_test(test_backwards_and_full),
        cmocka_unit_test(test_txn_commit_and_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
