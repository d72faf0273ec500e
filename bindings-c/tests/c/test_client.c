/* The C API end to end against the bundled broker started through the library: config
 * errors, admin (create, list, delete), produce with keys, headers, timestamps and delivery
 * reports, a group consumer with rebalance callbacks, sync, async and explicit commits,
 * committed, seek, pause/resume, position, close, and a consumer without membership assigned at
 * FK_OFFSET_STORED and FK_OFFSET_BEGINNING. Exits non-zero on the first failed check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); exit(1); } } while (0)

static int delivered, delivery_errors;
static int assigned_events, revoked_events, assigned_partitions;

static void on_delivery(const fk_message_t *m, void *opaque) {
    (void)opaque;
    if (fk_message_error(m) != FK_OK) delivery_errors++;
    else delivered++;
    CHECK(fk_message_opaque(m) == (void *)(intptr_t)7, "message opaque comes back");
}

static void on_rebalance(fk_consumer_t *c, int event, const fk_topic_partition_t *parts, size_t count, void *opaque) {
    (void)c;
    CHECK(opaque == (void *)&assigned_events, "rebalance opaque comes back");
    if (event == FK_REBALANCE_ASSIGN) { assigned_events++; assigned_partitions += (int)count; }
    if (event == FK_REBALANCE_REVOKE) revoked_events++;
    for (size_t i = 0; i < count; i++) CHECK(strcmp(parts[i].topic, "c-api") == 0, "topic %s", parts[i].topic);
}

static fk_conf_t *conf_for(const char *bootstrap) {
    char err[256];
    fk_conf_t *conf = fk_conf_new();
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    return conf;
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 2, "usage: test_client DATA_DIR");

    fk_broker_t *broker = fk_broker_start(argv[1], "127.0.0.1:0", err, sizeof err);
    CHECK(broker != NULL, "broker start: %s", err);
    const char *bootstrap = fk_broker_bootstrap(broker);

    /* Configuration errors name the key. */
    fk_conf_t *bad = fk_conf_new();
    CHECK(fk_conf_set(bad, "lingr.ms", "5", err, sizeof err) == FK_ERR__INVALID_ARG, "unknown key refused");
    CHECK(strstr(err, "lingr.ms") != NULL, "error names the key: %s", err);
    CHECK(strstr(fk_last_error(), "lingr.ms") != NULL, "and so does the thread's last error");
    CHECK(fk_producer_new(NULL, NULL, NULL, NULL, 0) == NULL && strstr(fk_last_error(), "NULL") != NULL, "no errstr: last error");
    CHECK(fk_conf_set(bad, "acks", "2", err, sizeof err) == FK_ERR__INVALID_ARG, "bad value refused");
    fk_conf_destroy(bad);
    CHECK(fk_conf_set(NULL, "acks", "1", err, sizeof err) == FK_ERR__INVALID_ARG, "NULL conf");
    fk_conf_destroy(NULL);
    CHECK(strlen(fk_err2str(FK_ERR__QUEUE_FULL)) > 0, "err2str");

    /* Admin: create a topic, see it listed. */
    fk_conf_t *conf = conf_for(bootstrap);
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    CHECK(admin != NULL, "%s", err);
    CHECK(fk_admin_create_topic(admin, "c-api", 2, -1, err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_admin_create_topic(admin, "c-api", 2, -1, err, sizeof err) == 36, "TOPIC_ALREADY_EXISTS: %s", err);
    fk_topic_list_t *topics = NULL;
    CHECK(fk_admin_list_topics(admin, &topics, err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_topic_list_count(topics) == 1 && strcmp(fk_topic_list_name(topics, 0), "c-api") == 0, "listed");
    CHECK(fk_topic_list_partitions(topics, 0) == 2, "two partitions");
    fk_topic_list_destroy(topics);

    /* Produce 100 records with a header; delivery reports on this thread. */
    fk_producer_t *p = fk_producer_new(conf, on_delivery, NULL, err, sizeof err);
    CHECK(p != NULL, "%s", err);
    for (int i = 0; i < 100; i++) {
        char key[16], value[16];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(value, sizeof value, "v%d", i);
        fk_header_t h = { "n", value, strlen(value) };
        int rc = fk_produce(p, "c-api", i % 2, key, strlen(key), value, strlen(value), &h, 1, 1000 + i, (void *)(intptr_t)7, err, sizeof err);
        CHECK(rc == FK_OK, "produce: %s", err);
    }
    CHECK(fk_produce(p, "c-api", 9, NULL, 0, "x", 1, NULL, 0, 0, NULL, err, sizeof err) == FK_ERR__UNKNOWN_PARTITION, "bad partition: %s", err);
    CHECK(fk_flush(p, 10000) == FK_OK, "flush");
    CHECK(delivered == 100 && delivery_errors == 0, "delivered %d, errors %d", delivered, delivery_errors);
    CHECK(fk_outq_len(p) == 0, "queue drained");
    fk_producer_destroy(p);

    /* A consumer group: rebalance callback, read everything, commit, committed. */
    CHECK(fk_conf_set(conf, "group.id", "c-group", err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err) == FK_OK, "%s", err);
    CHECK(fk_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) == FK_OK, "%s", err);
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    CHECK(c != NULL, "%s", err);
    fk_consumer_set_rebalance_cb(c, on_rebalance, &assigned_events);
    const char *topic_list[] = { "c-api" };
    CHECK(fk_subscribe(c, topic_list, 1, err, sizeof err) == FK_OK, "%s", err);
    int read = 0, headers_ok = 0;
    for (int polls = 0; read < 100 && polls < 200; polls++) {
        fk_message_t *m = fk_consumer_poll(c, 500);
        if (m == NULL) continue;
        CHECK(fk_message_error(m) == FK_OK, "consume error: %s", fk_message_errstr(m));
        size_t vlen = 0, hlen = 0;
        const char *value = fk_message_value(m, &vlen);
        const char *hname = NULL;
        const void *hval = NULL;
        CHECK(fk_message_header_count(m) == 1, "one header");
        CHECK(fk_message_header(m, 0, &hname, &hval, &hlen) == FK_OK, "header");
        if (strcmp(hname, "n") == 0 && hlen == vlen && memcmp(hval, value, vlen) == 0) headers_ok++;
        char text[32] = { 0 };  /* values are bytes with a length, not NUL-terminated */
        CHECK(vlen > 1 && vlen < sizeof text, "value length %zu", vlen);
        memcpy(text, value, vlen);
        int i = atoi(text + 1);
        CHECK(fk_message_partition(m) == i % 2, "partition");
        CHECK(fk_message_timestamp(m) == 1000 + i, "timestamp");
        CHECK(strcmp(fk_message_topic(m), "c-api") == 0 && fk_message_opaque(m) == NULL, "topic");
        size_t klen = 0;
        const void *key = fk_message_key(m, &klen);
        char expected[16];
        snprintf(expected, sizeof expected, "k%d", i);
        CHECK(klen == strlen(expected) && memcmp(key, expected, klen) == 0, "key of record %d", i);
        CHECK(fk_message_header(m, 1, &hname, NULL, NULL) == FK_ERR__INVALID_ARG, "header index out of range");
        read++;
        fk_message_destroy(m);
    }
    CHECK(read == 100 && headers_ok == 100, "read %d, headers %d", read, headers_ok);
    CHECK(assigned_events == 1 && assigned_partitions == 2, "assigned %d events, %d partitions", assigned_events, assigned_partitions);
    CHECK(fk_commit(c, NULL, 0, 0, err, sizeof err) == FK_OK, "commit: %s", err);
    fk_topic_partition_t parts[2] = { { "c-api", 0, 0, 0 }, { "c-api", 1, 0, 0 } };
    CHECK(fk_committed(c, parts, 2, err, sizeof err) == FK_OK, "%s", err);
    CHECK(parts[0].offset == 50 && parts[1].offset == 50, "committed %lld %lld", (long long)parts[0].offset, (long long)parts[1].offset);

    /* Seek back, pause one partition, positions. */
    CHECK(fk_seek(c, "c-api", 1, 48, err, sizeof err) == FK_OK, "%s", err);
    fk_topic_partition_t p0 = { "c-api", 0, 0, 0 };
    CHECK(fk_pause(c, &p0, 1) == FK_OK, "pause");
    fk_message_t *m = fk_consumer_poll(c, -1); /* no limit: a record is there */
    CHECK(m != NULL && fk_message_partition(m) == 1 && fk_message_offset(m) == 48, "seeked record");
    fk_message_destroy(m);
    CHECK(fk_resume(c, &p0, 1) == FK_OK, "resume");
    fk_topic_partition_t pos = { "c-api", 1, 0, 0 };
    CHECK(fk_position(c, &pos, 1) == FK_OK && pos.offset == 49, "position %lld", (long long)pos.offset);

    /* An asynchronous commit of the positions lands eventually; then explicit offsets. */
    CHECK(fk_commit(c, NULL, 0, 1, err, sizeof err) == FK_OK, "async commit: %s", err);
    for (int tries = 0; parts[1].offset != 49; tries++) {
        CHECK(tries < 100, "async commit never landed: %lld", (long long)parts[1].offset);
        fk_message_destroy(fk_consumer_poll(c, 50)); /* record 49; positions were taken at the commit */
        CHECK(fk_committed(c, parts, 2, err, sizeof err) == FK_OK, "%s", err);
    }
    fk_topic_partition_t ten = { "c-api", 0, 10, 0 };
    CHECK(fk_commit(c, &ten, 1, 0, err, sizeof err) == FK_OK, "explicit commit: %s", err);
    CHECK(fk_committed(c, parts, 2, err, sizeof err) == FK_OK && parts[0].offset == 10 && parts[1].offset == 49, "committed %lld %lld",
          (long long)parts[0].offset, (long long)parts[1].offset);

    CHECK(fk_consumer_close(c, err, sizeof err) == FK_OK, "close: %s", err);
    CHECK(revoked_events == 1, "close revokes");
    m = fk_consumer_poll(c, 0);
    CHECK(m != NULL && fk_message_error(m) == FK_ERR__DESTROY, "closed consumer says so");
    fk_message_destroy(m);
    fk_consumer_destroy(c);
    fk_consumer_destroy(NULL);

    /* A consumer without membership: FK_OFFSET_STORED starts at the group's committed offset,
     * FK_OFFSET_BEGINNING at the start. */
    fk_consumer_t *manual = fk_consumer_new(conf, err, sizeof err);
    CHECK(manual != NULL, "%s", err);
    fk_topic_partition_t starts[2] = { { "c-api", 0, FK_OFFSET_STORED, 0 }, { "c-api", 1, FK_OFFSET_BEGINNING, 0 } };
    CHECK(fk_assign(manual, starts, 2, err, sizeof err) == FK_OK, "assign: %s", err);
    int first[2] = { -1, -1 };
    for (int polls = 0; (first[0] < 0 || first[1] < 0) && polls < 100; polls++) {
        m = fk_consumer_poll(manual, 100);
        if (m == NULL) continue;
        CHECK(fk_message_error(m) == FK_OK, "%s", fk_message_errstr(m));
        int part = fk_message_partition(m);
        if (first[part] < 0) first[part] = (int)fk_message_offset(m);
        fk_message_destroy(m);
    }
    CHECK(first[0] == 10 && first[1] == 0, "assigned starts: %d %d", first[0], first[1]);
    fk_consumer_destroy(manual); /* closes it */

    CHECK(fk_admin_delete_topic(admin, "c-api", err, sizeof err) == FK_OK, "%s", err);
    fk_admin_destroy(admin);
    fk_conf_destroy(conf);
    CHECK(fk_broker_stop(broker) == FK_OK, "broker stop");
    printf("test_client: all checks passed\n");
    return 0;
}
