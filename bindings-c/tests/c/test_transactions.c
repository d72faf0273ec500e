/* Transactions through the C API against the bundled broker: what commits is read once by a
 * read_committed consumer (the default isolation), what aborts never is (a read_uncommitted one
 * sees it), an open transaction stays invisible until it commits; delivery reports of a
 * transaction are served by fk_commit_transaction / fk_abort_transaction; calls out of order are
 * FK_ERR__STATE; a record the broker refuses makes the commit fail with
 * fk_last_error_txn_requires_abort and the next transaction works; consumer offsets commit with
 * the transaction and not with an aborted one; fk_consumer_group_metadata. Exits non-zero on
 * the first failed check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferrokafka.h"

#define CHECK(cond, ...) do { if (!(cond)) { printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); exit(1); } } while (0)
#define T 20000 /* ms: every call's timeout */

static int delivered, purged, failed;

static void on_delivery(const fk_message_t *m, void *opaque) {
    (void)opaque;
    fk_resp_err_t e = fk_message_error(m);
    if (e == FK_OK) delivered++;
    else if (e == FK_ERR__PURGE_QUEUE) purged++;
    else failed++;
}

static fk_conf_t *conf_for(const char *bootstrap) {
    char err[256];
    fk_conf_t *conf = fk_conf_new();
    CHECK(fk_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) == FK_OK, "%s", err);
    return conf;
}

static void set(fk_conf_t *conf, const char *key, const char *value) {
    char err[256];
    CHECK(fk_conf_set(conf, key, value, err, sizeof err) == FK_OK, "%s=%s: %s", key, value, err);
}

static fk_producer_t *txn_producer(const char *bootstrap, const char *id) {
    char err[512];
    fk_conf_t *conf = conf_for(bootstrap);
    set(conf, "transactional.id", id);
    fk_producer_t *p = fk_producer_new(conf, on_delivery, NULL, err, sizeof err);
    fk_conf_destroy(conf);
    CHECK(p != NULL, "transactional producer: %s", err);
    return p;
}

static void produce(fk_producer_t *p, const char *topic, int partition, const char *value) {
    char err[512];
    fk_resp_err_t rc = fk_produce(p, topic, partition, NULL, 0, value, strlen(value), NULL, 0, 0, NULL, err, sizeof err);
    CHECK(rc == FK_OK, "produce %s to %s-%d: %s", value, topic, partition, err);
}

/* A consumer of every partition of `topic` from the beginning, without a group. */
static fk_consumer_t *reader(const char *bootstrap, const char *isolation, const char *topic, int partitions) {
    char err[512];
    fk_conf_t *conf = conf_for(bootstrap);
    if (isolation) set(conf, "isolation.level", isolation);
    fk_consumer_t *c = fk_consumer_new(conf, err, sizeof err);
    fk_conf_destroy(conf);
    CHECK(c != NULL, "consumer: %s", err);
    fk_topic_partition_t parts[4];
    for (int i = 0; i < partitions; i++) parts[i] = (fk_topic_partition_t){ topic, i, FK_OFFSET_BEGINNING, 0 };
    CHECK(fk_assign(c, parts, (size_t)partitions, err, sizeof err) == FK_OK, "assign: %s", err);
    return c;
}

/* Reads until `want` records came (each waited for up to T), then checks that nothing more
 * comes within `quiet_ms`. Returns how many values start with each of `prefixes` in `counts`. */
static int read_values(fk_consumer_t *c, int want, int quiet_ms, const char **prefixes, int *counts, int nprefixes) {
    int n = 0;
    for (;;) {
        fk_message_t *m = fk_consumer_poll(c, n < want ? T : quiet_ms);
        if (!m) break;
        CHECK(fk_message_error(m) == FK_OK, "consumer error: %s", fk_message_errstr(m));
        size_t len = 0;
        const char *v = fk_message_value(m, &len);
        for (int i = 0; i < nprefixes; i++)
            if (len >= strlen(prefixes[i]) && memcmp(v, prefixes[i], strlen(prefixes[i])) == 0) counts[i]++;
        n++;
        fk_message_destroy(m);
    }
    return n;
}

static int flags(void) {
    return fk_last_error_is_fatal() * 100 + fk_last_error_is_retriable() * 10 + fk_last_error_txn_requires_abort();
}

int main(int argc, char **argv) {
    char err[512];
    CHECK(argc == 2, "usage: test_transactions DATA_DIR");
    /* A small message.max.bytes, for a record the broker refuses. */
    const char *settings[] = { "message.max.bytes", "2000", NULL };
    fk_broker_t *broker = fk_broker_start_with(argv[1], settings, err, sizeof err);
    CHECK(broker != NULL, "broker start: %s", err);
    const char *bootstrap = fk_broker_bootstrap(broker);
    fk_conf_t *conf = conf_for(bootstrap);
    fk_admin_t *admin = fk_admin_new(conf, err, sizeof err);
    CHECK(admin != NULL, "admin: %s", err);
    CHECK(fk_admin_create_topic(admin, "tx", 2, -1, err, sizeof err) == FK_OK, "create tx: %s", err);
    CHECK(fk_admin_create_topic(admin, "in", 1, -1, err, sizeof err) == FK_OK, "create in: %s", err);
    CHECK(fk_admin_create_topic(admin, "out", 1, -1, err, sizeof err) == FK_OK, "create out: %s", err);
    fk_admin_destroy(admin);

    /* A producer without transactional.id has no transactions. */
    fk_producer_t *plain = fk_producer_new(conf, NULL, NULL, err, sizeof err);
    CHECK(plain != NULL, "plain producer: %s", err);
    CHECK(fk_init_transactions(plain, T, err, sizeof err) == FK_ERR__STATE, "init on a plain producer: %s", err);
    CHECK(strstr(err, "transactional.id") != NULL && flags() == 0, "names the setting: %s, flags %d", err, flags());
    CHECK(fk_init_transactions(NULL, T, err, sizeof err) == FK_ERR__INVALID_ARG, "NULL producer");
    CHECK(fk_begin_transaction(NULL, NULL, 0) == FK_ERR__INVALID_ARG, "NULL producer");
    CHECK(fk_commit_transaction(NULL, T, NULL, 0) == FK_ERR__INVALID_ARG, "NULL producer");
    CHECK(fk_abort_transaction(NULL, T, NULL, 0) == FK_ERR__INVALID_ARG, "NULL producer");

    /* Calls out of order are state errors, never fatal. */
    fk_producer_t *p = txn_producer(bootstrap, "c-committer");
    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_ERR__STATE, "begin before init: %s", err);
    CHECK(strstr(fk_last_error(), "init_transactions") != NULL && flags() == 0, "%s", fk_last_error());
    CHECK(fk_init_transactions(p, T, err, sizeof err) == FK_OK, "init: %s", err);
    CHECK(fk_produce(p, "tx", 0, NULL, 0, "x", 1, NULL, 0, 0, NULL, err, sizeof err) == FK_ERR__STATE,
          "produce outside a transaction: %s", err);
    CHECK(fk_commit_transaction(p, T, err, sizeof err) == FK_ERR__STATE, "commit with none: %s", err);
    CHECK(fk_abort_transaction(p, T, err, sizeof err) == FK_ERR__STATE, "abort with none: %s", err);

    /* Committed, aborted after its records were written, aborted before, committed. */
    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_OK, "begin: %s", err);
    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_ERR__STATE, "begin twice: %s", err);
    char value[32];
    for (int i = 0; i < 10; i++) { snprintf(value, sizeof value, "c1-%d", i); produce(p, "tx", i % 2, value); }
    CHECK(fk_commit_transaction(p, T, err, sizeof err) == FK_OK, "commit: %s", err);
    CHECK(delivered == 10 && purged == 0 && failed == 0, "the commit served the reports: %d/%d/%d", delivered, purged, failed);

    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_OK, "begin: %s", err);
    for (int i = 0; i < 5; i++) { snprintf(value, sizeof value, "a1-%d", i); produce(p, "tx", i % 2, value); }
    CHECK(fk_flush(p, T) == FK_OK, "flush inside the transaction");
    CHECK(delivered == 15, "written before the abort: %d", delivered);
    CHECK(fk_abort_transaction(p, T, err, sizeof err) == FK_OK, "abort: %s", err);

    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_OK, "begin: %s", err);
    for (int i = 0; i < 3; i++) { snprintf(value, sizeof value, "a2-%d", i); produce(p, "tx", i % 2, value); }
    CHECK(fk_abort_transaction(p, T, err, sizeof err) == FK_OK, "abort: %s", err);
    int a2_written = delivered - 15;
    CHECK(a2_written + purged == 3 && failed == 0, "the abort served every report: %d written, %d purged", a2_written, purged);
    CHECK(fk_outq_len(p) == 0, "nothing left: %d", fk_outq_len(p));

    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_OK, "begin: %s", err);
    for (int i = 0; i < 3; i++) { snprintf(value, sizeof value, "c2-%d", i); produce(p, "tx", i % 2, value); }
    CHECK(fk_commit_transaction(p, T, err, sizeof err) == FK_OK, "commit: %s", err);

    const char *prefixes[] = { "c1-", "c2-", "a1-", "a2-" };
    int counts[4] = { 0 };
    fk_consumer_t *committed = reader(bootstrap, NULL, "tx", 2); /* read_committed by default */
    int n = read_values(committed, 13, 300, prefixes, counts, 4);
    CHECK(n == 13 && counts[0] == 10 && counts[1] == 3, "read_committed: every committed record once: %d (%d, %d)", n,
          counts[0], counts[1]);
    int uncommitted_want = 13 + 5 + a2_written;
    memset(counts, 0, sizeof counts);
    fk_consumer_t *uncommitted = reader(bootstrap, "read_uncommitted", "tx", 2);
    n = read_values(uncommitted, uncommitted_want, 300, prefixes, counts, 4);
    CHECK(n == uncommitted_want && counts[2] == 5 && counts[3] == a2_written,
          "read_uncommitted sees the aborted records too, never control records: %d of %d", n, uncommitted_want);
    fk_consumer_destroy(uncommitted);

    /* An open transaction stays invisible to read_committed until it commits. */
    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_OK, "begin: %s", err);
    produce(p, "tx", 0, "pending");
    CHECK(fk_flush(p, T) == FK_OK, "flush");
    fk_message_t *m = fk_consumer_poll(committed, 300);
    CHECK(m == NULL, "an open transaction is not read: %s", m ? fk_message_errstr(m) : "");
    CHECK(fk_commit_transaction(p, T, err, sizeof err) == FK_OK, "commit: %s", err);
    m = fk_consumer_poll(committed, T);
    CHECK(m && fk_message_error(m) == FK_OK, "read once committed");
    size_t len = 0;
    const char *v = fk_message_value(m, &len);
    CHECK(len == 7 && memcmp(v, "pending", 7) == 0, "the pending record: %.*s", (int)len, v);
    fk_message_destroy(m);

    /* A record the broker refuses dooms the transaction: abort, then the next one works. */
    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_OK, "begin: %s", err);
    static char big[5000];
    memset(big, 'x', sizeof big);
    CHECK(fk_produce(p, "tx", 1, NULL, 0, big, sizeof big, NULL, 0, 0, NULL, err, sizeof err) == FK_OK, "%s", err);
    fk_resp_err_t rc = fk_commit_transaction(p, T, err, sizeof err);
    CHECK(rc != FK_OK && flags() == 1, "the commit fails, abortable: %s (%s), flags %d", fk_err2str(rc), err, flags());
    CHECK(rc == fk_last_error_code() && strstr(err, "abort") != NULL, "%d: %s", fk_last_error_code(), err);
    CHECK(failed == 1, "the refused record's report was served: %d", failed);
    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_ERR__STATE, "no new transaction before the abort: %s", err);
    CHECK(fk_abort_transaction(p, T, err, sizeof err) == FK_OK, "abort: %s", err);
    CHECK(fk_begin_transaction(p, err, sizeof err) == FK_OK, "begin: %s", err);
    produce(p, "tx", 1, "after");
    CHECK(fk_commit_transaction(p, T, err, sizeof err) == FK_OK, "commit: %s", err);
    m = fk_consumer_poll(committed, T);
    CHECK(m && fk_message_error(m) == FK_OK, "read the next transaction");
    v = fk_message_value(m, &len);
    CHECK(len == 5 && memcmp(v, "after", 5) == 0, "only the next transaction's record: %.*s", (int)len, v);
    fk_message_destroy(m);
    fk_consumer_destroy(committed);

    /* Consumer offsets commit with the transaction, and not with an aborted one. */
    for (int i = 0; i < 6; i++) { snprintf(value, sizeof value, "%d", i); produce(plain, "in", 0, value); }
    CHECK(fk_flush(plain, T) == FK_OK, "flush the input");
    fk_conf_t *cconf = conf_for(bootstrap);
    set(cconf, "group.id", "c-copier");
    set(cconf, "enable.auto.commit", "false");
    set(cconf, "auto.offset.reset", "earliest");
    fk_consumer_t *c = fk_consumer_new(cconf, err, sizeof err);
    CHECK(c != NULL, "consumer: %s", err);
    fk_conf_destroy(cconf);
    const char *topics[] = { "in" };
    CHECK(fk_subscribe(c, topics, 1, err, sizeof err) == FK_OK, "subscribe: %s", err);
    fk_consumer_t *no_group = reader(bootstrap, NULL, "in", 1);
    CHECK(fk_consumer_group_metadata(no_group) == NULL && fk_last_error_code() == FK_ERR__INVALID_ARG, "no group.id: %s",
          fk_last_error());
    CHECK(strstr(fk_last_error(), "group.id") != NULL, "%s", fk_last_error());
    fk_consumer_destroy(no_group);
    CHECK(fk_consumer_group_metadata(NULL) == NULL, "NULL consumer");
    fk_consumer_group_metadata_destroy(NULL);

    for (int round = 0; round < 2; round++) {
        int commit = round == 0;
        CHECK(fk_begin_transaction(p, err, sizeof err) == FK_OK, "begin: %s", err);
        for (int i = 0; i < 3; i++) {
            m = fk_consumer_poll(c, T);
            CHECK(m && fk_message_error(m) == FK_OK, "an input record: %s", m ? fk_message_errstr(m) : "none");
            v = fk_message_value(m, &len);
            snprintf(value, sizeof value, "copy-%.*s", (int)len, v);
            produce(p, "out", 0, value);
            fk_message_destroy(m);
        }
        /* Positions as fk_position fills them, with a partition not assigned (skipped). */
        fk_topic_partition_t offsets[2] = { { "in", 0, 0, 0 }, { "in", 5, 0, 0 } };
        CHECK(fk_position(c, offsets, 2) == FK_OK && offsets[0].offset == 3 * (round + 1), "position %lld",
              (long long)offsets[0].offset);
        CHECK(offsets[1].offset == FK_OFFSET_INVALID, "not assigned");
        fk_consumer_group_metadata_t *group = fk_consumer_group_metadata(c);
        CHECK(group != NULL, "group metadata: %s", fk_last_error());
        CHECK(fk_send_offsets_to_transaction(p, offsets, 2, NULL, T, err, sizeof err) == FK_ERR__INVALID_ARG, "NULL group");
        fk_topic_partition_t bad = { "in", 0, FK_OFFSET_BEGINNING, 0 };
        CHECK(fk_send_offsets_to_transaction(p, &bad, 1, group, T, err, sizeof err) == FK_ERR__INVALID_ARG &&
                  strstr(err, "in-0") != NULL,
              "not an offset: %s", err);
        CHECK(fk_send_offsets_to_transaction(p, offsets, 2, group, T, err, sizeof err) == FK_OK, "send offsets: %s", err);
        fk_consumer_group_metadata_destroy(group);
        if (commit) CHECK(fk_commit_transaction(p, T, err, sizeof err) == FK_OK, "commit: %s", err);
        else CHECK(fk_abort_transaction(p, T, err, sizeof err) == FK_OK, "abort: %s", err);
        fk_topic_partition_t stored = { "in", 0, 0, 0 };
        CHECK(fk_committed(c, &stored, 1, err, sizeof err) == FK_OK, "committed: %s", err);
        CHECK(stored.offset == 3, "round %d: the offsets of the committed transaction only: %lld", round,
              (long long)stored.offset);
    }
    const char *copies[] = { "copy-" };
    int copied = 0;
    fk_consumer_t *out = reader(bootstrap, NULL, "out", 1);
    n = read_values(out, 3, 300, copies, &copied, 1);
    CHECK(n == 3 && copied == 3, "the committed copies only: %d", n);
    fk_consumer_destroy(out);

    CHECK(fk_consumer_close(c, err, sizeof err) == FK_OK, "close: %s", err);
    CHECK(fk_consumer_group_metadata(c) == NULL && fk_last_error_code() == FK_ERR__DESTROY, "closed consumer");
    fk_consumer_destroy(c);
    fk_producer_destroy(p);
    fk_producer_destroy(plain);
    fk_conf_destroy(conf);
    CHECK(fk_broker_stop(broker) == FK_OK, "broker stop: %s", fk_last_error());
    printf("all checks passed\n");
    return 0;
}
