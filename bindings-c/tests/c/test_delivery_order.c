/* Delivery reports in each partition's offset order, as librdkafka guarantees: 20,000
 * idempotent records over 6 partitions, in batches small enough that several of a partition
 * are in flight at once. Every record is reported exactly once, without error, and per
 * partition the offsets rise strictly, in the order the records were produced. Prints the
 * produce rate (fk_produce of the first record to fk_flush returning). Exits non-zero on the
 * first failed check. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); exit(1); } } while (0)

#define RECORDS 20000
#define PARTITIONS 6

static unsigned char reported[RECORDS];
static int64_t last_offset[PARTITIONS];
static int last_record[PARTITIONS];
static int served;

static void on_delivery(const fk_message_t *m, void *opaque) {
    CHECK(opaque == (void *)reported, "producer opaque comes back");
    CHECK(fk_message_error(m) == FK_OK, "delivered: %s", fk_message_errstr(m));
    /* msg_opaque is the record's number + 1: NULL stays distinguishable. */
    int i = (int)(intptr_t)fk_message_opaque(m) - 1;
    CHECK(i >= 0 && i < RECORDS, "msg_opaque %d comes back", i);
    CHECK(!reported[i], "record %d reported once", i);
    reported[i] = 1;
    int32_t part = fk_message_partition(m);
    CHECK(part == i % PARTITIONS, "record %d: partition %d", i, part);
    int64_t offset = fk_message_offset(m);
    CHECK(offset > last_offset[part], "partition %d: offset %lld reported after %lld", part, (long long)offset,
          (long long)last_offset[part]);
    CHECK(i > last_record[part], "partition %d: record %d reported after %d", part, i, last_record[part]);
    last_offset[part] = offset;
    last_record[part] = i;
    served++;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void set(fk_conf_t *conf, const char *key, const char *value) {
    char err[256];
    CHECK(fk_conf_set(conf, key, value, err, sizeof err) == FK_OK, "%s: %s", key, err);
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 2, "usage: test_delivery_order DATA_DIR");
    for (int p = 0; p < PARTITIONS; p++) last_offset[p] = last_record[p] = -1;

    fk_broker_t *broker = fk_broker_start(argv[1], "127.0.0.1:0", err, sizeof err);
    CHECK(broker != NULL, "broker start: %s", err);
    fk_conf_t *conf = fk_conf_new();
    set(conf, "bootstrap.servers", fk_broker_bootstrap(broker));
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    CHECK(admin != NULL, "%s", err);
    CHECK(fk_admin_create_topic(admin, "ordered", PARTITIONS, -1, err, sizeof err) == FK_OK, "%s", err);

    set(conf, "enable.idempotence", "true");
    set(conf, "acks", "all");
    set(conf, "linger.ms", "0");
    /* About 15 records a batch: many batches per partition, up to 5 of them in flight. */
    set(conf, "batch.size", "1000");
    fk_producer_t *p = fk_producer_new(conf, on_delivery, reported, err, sizeof err);
    CHECK(p != NULL, "%s", err);

    double started = now_ms();
    for (int i = 0; i < RECORDS; i++) {
        char value[64];
        int len = snprintf(value, sizeof value, "record %06d of the ordered delivery test", i);
        for (;;) {
            int rc = fk_produce(p, "ordered", i % PARTITIONS, NULL, 0, value, (size_t)len, NULL, 0, 0,
                                (void *)(intptr_t)(i + 1), err, sizeof err);
            if (rc == FK_OK) break;
            CHECK(rc == FK_ERR__QUEUE_FULL, "produce %d: %s", i, err);
            fk_poll(p, 100);
        }
        if (i % 1000 == 999) fk_poll(p, 0);
    }
    CHECK(fk_flush(p, 60000) == FK_OK, "flush: %s", fk_last_error());
    double elapsed = now_ms() - started;
    CHECK(fk_outq_len(p) == 0, "nothing outstanding: %d", fk_outq_len(p));
    CHECK(served == RECORDS, "%d of %d records reported", served, RECORDS);
    CHECK(fk_poll(p, 0) == 0, "no report after the last");
    for (int i = 0; i < RECORDS; i++) CHECK(reported[i], "record %d reported", i);
    printf("produced %d idempotent records in %.0f ms (%.0f records/s)\n", RECORDS, elapsed, RECORDS / elapsed * 1e3);

    fk_producer_destroy(p);
    fk_admin_destroy(admin);
    fk_conf_destroy(conf);
    CHECK(fk_broker_stop(broker) == FK_OK, "broker stop");
    printf("all checks passed\n");
    return 0;
}
